import type { BundleContents } from './contents';
import { TSA_LIMITS, WHOLE_FILE_BYTES } from './limits';

/** The TSA roots timestamps are checked against, and whether the auditor pinned them. */
export interface TsaAnchors {
  certs: Uint8Array[];
  /**
   * True when they are the bundle's own `tsa/` files: a timestamp that chains to them is the
   * operator's word, and proves no time (a token that vouches for itself).
   */
  fromBundle: boolean;
}

/**
 * The auditor's TSA roots when given; else the bundle's `tsa/*.pem`. A file that is not PEM
 * (or is over the caps of {@link TSA_LIMITS}) anchors nothing: the timestamps that needed it do
 * not chain and are refuted.
 */
export async function readTsaAnchors(
  contents: BundleContents,
  pinned: Uint8Array[] | undefined,
): Promise<TsaAnchors> {
  if (pinned) return { certs: pinned, fromBundle: false };
  const certs: Uint8Array[] = [];
  for (const name of contents.names()) {
    if (!name.startsWith('tsa/') || !name.endsWith('.pem')) continue;
    const pem = await contents.text(name, WHOLE_FILE_BYTES.tsaCertificate);
    if (pem === undefined || certs.length >= TSA_LIMITS.certificates) continue;
    if (pem.split('-----BEGIN ').length - 1 > TSA_LIMITS.blocksPerFile) continue;
    try {
      const { parsePemCertificates } = await import('@quittance/tsp'); // loaded on first use
      certs.push(...parsePemCertificates(pem).slice(0, TSA_LIMITS.certificates - certs.length));
    } catch {
      // not PEM: see above
    }
  }
  return { certs, fromBundle: true };
}
