/**
 * Builds receipts, snapshots and revocation statements for tests, by the SPEC, with real
 * signers. Tests of the verifier use it to make both good and tampered evidence.
 */
import {
  buildSignedReceipt,
  entryHash,
  GENESIS_HASH,
  JWS_TYPES,
  type JwksSnapshot,
  type KeyStatus,
  newId,
  planReceiptSignature,
  planSnapshotSignature,
  type Receipt,
  receiptHashOf,
  type SignedReceipt,
  type SnapshotKey,
} from '@quittance/format';
import { type Signer, signCompact, signPlan } from '@quittance/signer';

export interface HistoryKeyInput {
  signer: Signer;
  merchantId: string;
  nbf: string;
  exp?: string | null;
  status?: KeyStatus;
  revokedAt?: string;
  revocationReason?: string;
}

export async function toSnapshotKey(input: HistoryKeyInput): Promise<SnapshotKey> {
  const jwk = await input.signer.publicJwk();
  const key: SnapshotKey = {
    kty: 'OKP',
    crv: 'Ed25519',
    x: jwk.x,
    kid: input.signer.kid,
    alg: 'EdDSA',
    use: 'sig',
    merchantId: input.merchantId,
    nbf: input.nbf,
    exp: input.exp ?? null,
    status: input.status ?? 'active',
  };
  if (input.revokedAt) key.revokedAt = input.revokedAt;
  if (input.revocationReason) key.revocationReason = input.revocationReason;
  return key;
}

export async function makeSnapshot(options: {
  publisher: Signer;
  keys: HistoryKeyInput[];
  period?: string;
  version?: number;
  issuedAt?: string;
  prevSnapshotHash?: string | null;
  revocations?: string[];
}): Promise<JwksSnapshot> {
  const unsigned = {
    period: options.period ?? '2026-11',
    version: options.version ?? 1,
    issuedAt: options.issuedAt ?? '2026-11-01T00:00:00.000Z',
    prevSnapshotHash: options.prevSnapshotHash ?? null,
    keys: await Promise.all(options.keys.map(toSnapshotKey)),
    revocations: options.revocations ?? [],
  };
  const { jws } = await signPlan(
    await planSnapshotSignature(unsigned, options.publisher.kid),
    options.publisher,
  );
  return { ...unsigned, jws };
}

/** A compact (attached) revocation statement by the publisher key. */
export function makeRevocation(
  publisher: Signer,
  claims: { kid: string; revokedAt: string; reason: string },
): Promise<string> {
  return signCompact(claims, JWS_TYPES.revocation, publisher);
}

export async function publisherJwks(publisher: Signer) {
  return { keys: [await publisher.publicJwk()] };
}

export interface ReceiptOptions {
  signer: Signer;
  merchantId?: string;
  createdAt?: string;
  seq?: number;
  prevHash?: string;
  orderId?: string;
  callId?: string;
  /** Members to set after the claims are built, before signing (e.g. a long nonce). */
  extra?: Partial<SignedReceipt>;
}

/** A receipt signed and chained exactly as SPEC §1-§6 describe. */
export async function makeReceipt(options: ReceiptOptions): Promise<Receipt> {
  const createdAt = options.createdAt ?? '2026-11-20T10:15:30.123Z';
  const merchantId = options.merchantId ?? 'acme';
  const signed = {
    ...buildSignedReceipt({
      id: newId('trcpt', Date.parse(createdAt)),
      merchantId,
      request: {
        callId: options.callId ?? `call-${Math.random().toString(36).slice(2, 10)}`,
        agentId: 'agent-7',
        bucket: 'checkout',
        tool: 'complete_checkout',
        orderId: options.orderId ?? 'order-42',
      },
      inputHash: 'a'.repeat(64),
      outputHash: 'b'.repeat(64),
      createdAt,
      signingKeyKid: options.signer.kid,
      jwksSnapshotUrl: `https://receipts.example.com/.well-known/jwks/snapshot/${createdAt.slice(0, 7)}.json`,
    }),
    ...options.extra,
  };
  const plan = planReceiptSignature(signed);
  const { jws, signature } = await signPlan(plan, options.signer);
  const seq = options.seq ?? 1;
  const prevHash = options.prevHash ?? GENESIS_HASH;
  const receiptHash = await receiptHashOf(plan, signature);
  return {
    ...signed,
    jws,
    legal_posture: 'signed',
    timestamp: null,
    chain: {
      seq,
      prevHash,
      entryHash: await entryHash({ seq, prevHash, receiptId: signed.id, receiptHash }),
    },
  };
}
