export const BUCKETS = ['discovery', 'customer', 'checkout'] as const;
export type Bucket = (typeof BUCKETS)[number];

export const LEGAL_POSTURES = ['signed', 'ades_candidate_timestamped'] as const;
export type LegalPosture = (typeof LEGAL_POSTURES)[number];

/** The signed members of a receipt (SPEC §1): everything but the envelope. */
export interface SignedReceipt {
  schemaVersion: '1';
  id: string;
  merchantId: string;
  callId: string;
  agentId: string;
  orderId?: string;
  bucket: Bucket;
  tool: string;
  inputHash: string;
  outputHash: string;
  createdAt: string;
  signingKeyKid: string;
  jwksSnapshotUrl: string;
  nonce?: string;
  trust_provider_assertions?: Record<string, unknown>[];
}

/** RFC 3161 evidence attached after issuance (SPEC §4). */
export interface ReceiptTimestamp {
  /** base64 (standard alphabet) DER TimeStampToken. */
  token: string;
  genTime: string;
  tsa: string;
  policy: string;
}

/** The receipt's place in the merchant's audit log (SPEC §6). */
export interface ChainLink {
  seq: number;
  prevHash: string;
  entryHash: string;
}

export interface ReceiptEnvelope {
  jws: string;
  legal_posture: LegalPosture;
  timestamp: ReceiptTimestamp | null;
  chain: ChainLink;
}

export type Receipt = SignedReceipt & ReceiptEnvelope;

export const ENVELOPE_MEMBERS = ['jws', 'legal_posture', 'timestamp', 'chain'] as const;

/** What a merchant's backend sends to issue a receipt (SPEC §8). */
export interface IssueRequest {
  callId: string;
  agentId: string;
  bucket: Bucket;
  tool: string;
  orderId?: string;
  nonce?: string;
  trust_provider_assertions?: Record<string, unknown>[];
  input?: unknown;
  output?: unknown;
  inputHash?: string;
  outputHash?: string;
}
