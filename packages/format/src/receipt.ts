import { asciiBytes, base64url, concatBytes } from './encoding';
import { sha256Hex } from './hash';
import { canonicalBytes } from './jcs';
import {
  JWS_TYPES,
  parseDetachedJws,
  planSignature,
  type SigningPlan,
  withoutMembers,
} from './jws';
import {
  type Bucket,
  ENVELOPE_MEMBERS,
  type IssueRequest,
  type Receipt,
  type SignedReceipt,
} from './types';

/** prevHash of the first entry of every chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 hex of UTF-8(JCS(body)) (SPEC §3). */
export async function bodyHash(body: unknown): Promise<string> {
  return sha256Hex(canonicalBytes(body));
}

/** The signed members of a receipt: the receipt without its four envelope members. */
export function signedPart(receipt: SignedReceipt | Receipt): SignedReceipt {
  return withoutMembers(receipt, ENVELOPE_MEMBERS) as unknown as SignedReceipt;
}

export interface ReceiptClaimsInput {
  id: string;
  merchantId: string;
  request: Pick<
    IssueRequest,
    'callId' | 'agentId' | 'bucket' | 'tool' | 'orderId' | 'nonce' | 'trust_provider_assertions'
  >;
  inputHash: string;
  outputHash: string;
  createdAt: string;
  signingKeyKid: string;
  jwksSnapshotUrl: string;
}

/** Assembles the signed members, omitting optional ones the request did not carry. */
export function buildSignedReceipt(input: ReceiptClaimsInput): SignedReceipt {
  const { request } = input;
  const receipt: SignedReceipt = {
    schemaVersion: '1',
    id: input.id,
    merchantId: input.merchantId,
    callId: request.callId,
    agentId: request.agentId,
    bucket: request.bucket as Bucket,
    tool: request.tool,
    inputHash: input.inputHash,
    outputHash: input.outputHash,
    createdAt: input.createdAt,
    signingKeyKid: input.signingKeyKid,
    jwksSnapshotUrl: input.jwksSnapshotUrl,
  };
  if (request.orderId !== undefined) receipt.orderId = request.orderId;
  if (request.nonce !== undefined) receipt.nonce = request.nonce;
  if (request.trust_provider_assertions !== undefined) {
    receipt.trust_provider_assertions = request.trust_provider_assertions;
  }
  return receipt;
}

/** Signing plan of a receipt (SPEC §2); throws `signing_input_too_large` past 4096 bytes. */
export function planReceiptSignature(receipt: SignedReceipt): SigningPlan {
  return planSignature(signedPart(receipt), receipt.signingKeyKid, JWS_TYPES.receipt);
}

/** SHA-256 hex of the attached compact JWS `S || "." || BASE64URL(signature)` (SPEC §6). */
export async function receiptHashOf(
  plan: Pick<SigningPlan, 'signingInput'>,
  signature: Uint8Array,
): Promise<string> {
  return sha256Hex(concatBytes([plan.signingInput, asciiBytes(`.${base64url(signature)}`)]));
}

/** receiptHash recomputed from a full receipt: its JWS header and signature and its own members. */
export async function receiptHash(receipt: Pick<Receipt, 'jws'> & SignedReceipt): Promise<string> {
  const { headerB64, signatureB64 } = parseDetachedJws(receipt.jws);
  const payloadB64 = base64url(canonicalBytes(signedPart(receipt)));
  return sha256Hex(asciiBytes(`${headerB64}.${payloadB64}.${signatureB64}`));
}

export interface ChainEntryInput {
  seq: number;
  prevHash: string;
  receiptId: string;
  receiptHash: string;
}

/** entryHash(n) = SHA-256 hex of UTF-8(JCS({seq, prevHash, receiptId, receiptHash})) (SPEC §6). */
export async function entryHash(entry: ChainEntryInput): Promise<string> {
  return sha256Hex(
    canonicalBytes({
      seq: entry.seq,
      prevHash: entry.prevHash,
      receiptId: entry.receiptId,
      receiptHash: entry.receiptHash,
    }),
  );
}
