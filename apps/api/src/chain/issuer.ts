import type { Db } from '@quittance/db';
import {
  buildSignedReceipt,
  canonicalBytes,
  FormatError,
  type IssueRequest,
  newId,
  notIJson,
  periodOf,
  planReceiptSignature,
  receiptHashOf,
  sha256Hex,
  toTimestampMs,
} from '@quittance/format';
import { signPlan } from '@quittance/signer';
import type { Vault } from '@quittance/vault';
import type { KeyRing } from '../keys/key-ring';
import type { SnapshotService } from '../keys/snapshots';
import { ServiceError } from '../service-error';
import type { AppendItem, ChainAppender } from './chain-appender';
import type { ReceiptRecord } from './record';

export interface IssueResult {
  status: 200 | 201;
  /** The stored receipt: the first one for its callId when `status` is 200. */
  record: ReceiptRecord;
}

/** How often a receipt is signed again when a rotation or revocation raced with it. */
const MAX_SIGNING_ATTEMPTS = 3;

/**
 * The issue path (SPEC §8): hash and vault the bodies, sign outside any lock, then append to
 * the chain in one transaction with the receipt, its bodies and its pending-timestamp mark.
 * The receipt is returned only after that commit.
 */
export class ReceiptIssuer {
  constructor(
    private readonly deps: {
      db: Db;
      vault: Vault;
      keyRing: KeyRing;
      snapshots: SnapshotService;
      appender: ChainAppender;
      clock: () => Date;
      onSigned?: (seconds: number) => void;
    },
  ) {}

  async issue(merchantId: string, request: IssueRequest): Promise<IssueResult> {
    const bodies = hasBodies(request)
      ? {
          input: canonicalBody(request.input, 'input'),
          output: canonicalBody(request.output, 'output'),
        }
      : undefined;
    const inputHash = bodies ? await sha256Hex(bodies.input) : (request.inputHash as string);
    const outputHash = bodies ? await sha256Hex(bodies.output) : (request.outputHash as string);
    const contentHash = await sha256Hex(
      canonicalBytes({
        agentId: request.agentId,
        bucket: request.bucket,
        tool: request.tool,
        orderId: request.orderId ?? null,
        nonce: request.nonce ?? null,
        inputHash,
        outputHash,
      }),
    );

    for (let attempt = 1; attempt <= MAX_SIGNING_ATTEMPTS; attempt++) {
      const { item } = await this.#signed(merchantId, request, {
        inputHash,
        outputHash,
        contentHash,
        bodies,
      });
      const outcome = await this.deps.appender.append(item);
      switch (outcome.kind) {
        case 'created':
          return { status: 201, record: outcome.record };
        case 'replay':
          return { status: 200, record: outcome.record };
        case 'conflict':
          throw new ServiceError(
            'call_id_conflict',
            `callId ${request.callId} was issued as ${outcome.existingId} with different content`,
          );
        case 'key_invalid':
          this.deps.keyRing.refresh(merchantId);
      }
    }
    throw new ServiceError(
      'service_unavailable',
      'signing keys kept changing during issuance; retry',
      { retryAfterSeconds: 1 },
    );
  }

  async #signed(
    merchantId: string,
    request: IssueRequest,
    content: {
      inputHash: string;
      outputHash: string;
      contentHash: string;
      bodies: { input: Uint8Array; output: Uint8Array } | undefined;
    },
  ): Promise<{ item: AppendItem }> {
    const signer = await this.deps.keyRing.currentSigner(merchantId);
    const now = this.deps.clock();
    const id = newId('trcpt', now.getTime());
    const signed = buildSignedReceipt({
      id,
      merchantId,
      request,
      inputHash: content.inputHash,
      outputHash: content.outputHash,
      createdAt: toTimestampMs(now),
      signingKeyKid: signer.kid,
      jwksSnapshotUrl: this.deps.snapshots.urlOf(periodOf(now)),
    });
    let plan: ReturnType<typeof planReceiptSignature>;
    try {
      plan = planReceiptSignature(signed);
    } catch (error) {
      if (error instanceof FormatError && error.code === 'signing_input_too_large') {
        throw new ServiceError('signing_input_too_large', error.message);
      }
      throw error;
    }
    await this.deps.snapshots.ensure(this.deps.db, now);
    const sealed = content.bodies
      ? await Promise.all(
          (['input', 'output'] as const).map(async (kind) => ({
            kind,
            ...(await this.deps.vault.encrypt({
              merchantId,
              receiptId: id,
              kind,
              plaintext: (content.bodies as { input: Uint8Array; output: Uint8Array })[kind],
              at: now,
            })),
          })),
        )
      : [];
    const started = performance.now();
    const { jws, signature } = await signPlan(plan, signer);
    this.deps.onSigned?.((performance.now() - started) / 1000);
    return {
      item: {
        record: {
          id,
          merchantId,
          callId: request.callId,
          agentId: request.agentId,
          orderId: request.orderId ?? null,
          bucket: request.bucket,
          tool: request.tool,
          createdAt: now,
          signingKeyKid: signer.kid,
          signed: plan.payloadJson,
          jws,
          receiptHash: await receiptHashOf(plan, signature),
          contentHash: content.contentHash,
          hasBodies: content.bodies ? 1 : 0,
        },
        bodies: sealed.map((s) => ({
          kind: s.kind,
          vaultKeyId: s.vaultKeyId,
          iv: s.iv,
          ciphertext: s.ciphertext,
        })),
      },
    };
  }
}

/** UTF-8 JCS of a body; a body that is not I-JSON is a 400 naming the member. */
function canonicalBody(body: unknown, name: 'input' | 'output'): Uint8Array {
  try {
    return canonicalBytes(body);
  } catch (error) {
    if (error instanceof FormatError && error.code === 'not_i_json')
      throw notIJson(body, `/${name}`);
    throw error;
  }
}

function hasBodies(request: IssueRequest): boolean {
  return Object.hasOwn(request, 'input');
}
