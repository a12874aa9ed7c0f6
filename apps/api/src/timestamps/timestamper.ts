import { readFile, stat } from 'node:fs/promises';
import { fromBase64, type ReceiptTimestamp, toBase64 } from '@quittance/format';
import type * as Tsp from '@quittance/tsp';

/** A verified token as stored (SPEC §4), and the latest time it allows: genTime plus accuracy. */
export interface Stamp {
  evidence: ReceiptTimestamp;
  existedBy: Date;
}

/** Gets RFC 3161 evidence over an imprint, verified before it is returned (SPEC §4). */
export interface Timestamper {
  stamp(
    imprint: Uint8Array,
    window: { notBefore: Date; notAfter: Date },
    options?: { timeoutMs?: number },
  ): Promise<Stamp>;
  /** The latest time an attached token allows (genTime plus accuracy), checked again. */
  existedBy(imprint: Uint8Array, evidence: ReceiptTimestamp): Promise<Date>;
}

/**
 * Any RFC 3161 TSA by URL, its tokens checked against the configured trust anchors. The tsp
 * package (pkijs) loads when a TSA is configured, not with every process.
 */
export class TsaTimestamper implements Timestamper {
  constructor(
    private readonly tsp: typeof Tsp,
    private readonly url: string,
    /** DER of QUITTANCE_TSA_TRUST's certificates; bundles carry them in tsa/ (SPEC §9). */
    readonly trustAnchors: Uint8Array[],
    private readonly timeoutMs: number,
  ) {}

  static async fromConfig(
    url: string,
    trustPath: string,
    timeoutMs: number,
  ): Promise<TsaTimestamper> {
    const tsp = await import('@quittance/tsp');
    // Judged before it is read (a FIFO would wait for a writer), and named when it cannot be.
    const where = `QUITTANCE_TSA_TRUST ${trustPath}`;
    const file = await stat(trustPath).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`${where} cannot be read: ${error.code ?? error.message}`);
    });
    if (!file.isFile() || file.size > 16 * 1024 * 1024)
      throw new Error(`${where} is not a PEM file of at most 16 MiB`);
    const anchors = tsp.parsePemCertificates(await readFile(trustPath, 'utf8'));
    if (anchors.length === 0) throw new Error(`${where} holds no PEM certificate`);
    return new TsaTimestamper(tsp, url, anchors, timeoutMs);
  }

  async stamp(
    imprint: Uint8Array,
    window: { notBefore: Date; notAfter: Date },
    options: { timeoutMs?: number } = {},
  ): Promise<Stamp> {
    const request = this.tsp.createTimestampRequest(imprint);
    const response = await this.tsp.requestTimestamp(this.url, request, {
      timeoutMs: Math.min(this.timeoutMs, options.timeoutMs ?? this.timeoutMs),
    });
    const verified = await this.tsp.verifyTimestampResponse(response, {
      imprint,
      nonce: request.nonce,
      trustAnchors: this.trustAnchors,
      notBefore: window.notBefore,
      notAfter: window.notAfter,
    });
    return {
      evidence: {
        token: toBase64(verified.token),
        genTime: verified.genTime.toISOString(),
        tsa: verified.tsa,
        policy: verified.policy,
      },
      existedBy: existedBy(verified),
    };
  }

  async existedBy(imprint: Uint8Array, evidence: ReceiptTimestamp): Promise<Date> {
    return existedBy(
      await this.tsp.verifyTimestampToken(fromBase64(evidence.token), {
        imprint,
        trustAnchors: this.trustAnchors,
      }),
    );
  }
}

/** RFC 3161: the time stamped is genTime ± accuracy, so it existed by genTime + accuracy. */
const existedBy = (verified: Tsp.VerifiedTimestamp) =>
  new Date(verified.genTime.getTime() + verified.accuracyMs);
