import { readFile } from 'node:fs/promises';
import { type ReceiptTimestamp, toBase64 } from '@quittance/format';
import {
  createTimestampRequest,
  parsePemCertificates,
  requestTimestamp,
  verifyTimestampResponse,
} from '@quittance/tsp';

/** Gets RFC 3161 evidence over an imprint, verified before it is returned (SPEC §4). */
export interface Timestamper {
  stamp(
    imprint: Uint8Array,
    window: { notBefore: Date; notAfter: Date },
  ): Promise<ReceiptTimestamp>;
}

/** Any RFC 3161 TSA by URL, its tokens checked against the configured trust anchors. */
export class TsaTimestamper implements Timestamper {
  constructor(
    private readonly url: string,
    private readonly trustAnchors: Uint8Array[],
    private readonly timeoutMs: number,
  ) {}

  static async fromConfig(
    url: string,
    trustPath: string,
    timeoutMs: number,
  ): Promise<TsaTimestamper> {
    const anchors = parsePemCertificates(await readFile(trustPath, 'utf8'));
    if (anchors.length === 0) throw new Error(`${trustPath} holds no PEM certificate`);
    return new TsaTimestamper(url, anchors, timeoutMs);
  }

  async stamp(
    imprint: Uint8Array,
    window: { notBefore: Date; notAfter: Date },
  ): Promise<ReceiptTimestamp> {
    const request = createTimestampRequest(imprint);
    const response = await requestTimestamp(this.url, request, { timeoutMs: this.timeoutMs });
    const verified = await verifyTimestampResponse(response, {
      imprint,
      nonce: request.nonce,
      trustAnchors: this.trustAnchors,
      notBefore: window.notBefore,
      notAfter: window.notAfter,
    });
    return {
      token: toBase64(verified.token),
      genTime: verified.genTime.toISOString(),
      tsa: verified.tsa,
      policy: verified.policy,
    };
  }
}
