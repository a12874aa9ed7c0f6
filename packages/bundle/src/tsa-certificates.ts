import { hash } from 'node:crypto';
import type * as Tsp from '@quittance/tsp';

const sha256Hex = (der: Uint8Array) => hash('sha256', der, 'hex');

/**
 * The TSA certificates a bundle carries in tsa/: those its timestamp tokens embed, and any
 * given, by SHA-256. The tsp package (and pkijs under it) loads with the first bundle, not
 * with the service: an API process that never writes a bundle never loads it.
 */
export class TsaCertificates {
  readonly #byHash = new Map<string, Uint8Array>();
  readonly #seen = new Set<Uint8Array>();

  private constructor(private readonly tsp: typeof Tsp) {}

  static async open(given: Iterable<Uint8Array> = []): Promise<TsaCertificates> {
    const certificates = new TsaCertificates(await import('@quittance/tsp'));
    for (const der of given) certificates.#byHash.set(sha256Hex(der), der);
    return certificates;
  }

  /** Adds the certificates a token embeds; tsp hands back the same bytes for one it has seen. */
  collect(tokenBase64: string): void {
    let certificates: Uint8Array[];
    try {
      certificates = this.tsp.tokenCertificates(Buffer.from(tokenBase64, 'base64'));
    } catch {
      return; // an unreadable token is the verifier's finding, not the exporter's
    }
    for (const der of certificates) {
      if (this.#seen.has(der)) continue;
      this.#seen.add(der);
      this.#byHash.set(sha256Hex(der), der);
    }
  }

  /** Each certificate as PEM with its SHA-256, in the order of the hashes. */
  pems(): [sha256: string, pem: string][] {
    return [...this.#byHash]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([sha256, der]) => [sha256, this.tsp.toPem(der, 'CERTIFICATE')]);
  }
}
