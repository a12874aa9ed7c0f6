import { sha256Hex } from './hash';
import { canonicalBytes } from './jcs';
import {
  JWS_TYPES,
  planDigestSignature,
  planSignature,
  type SigningPlan,
  withoutMembers,
} from './jws';
import { KID_PATTERN } from './rules';
import type { ReceiptTimestamp } from './types';

/** An Ed25519 public key as RFC 8037 writes it. */
export interface OkpPublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid?: string;
  alg?: 'EdDSA';
  use?: 'sig';
}

export const KEY_STATUSES = ['active', 'retired', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

/** One key of a snapshot's history (SPEC §5). */
export interface SnapshotKey extends OkpPublicJwk {
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
  merchantId: string;
  nbf: string;
  exp: string | null;
  status: KeyStatus;
  revokedAt?: string;
  revocationReason?: string;
}

/** A signed key-history document; a JWKS with more members (SPEC §5). */
export interface JwksSnapshot {
  period: string;
  version: number;
  issuedAt: string;
  prevSnapshotHash: string | null;
  keys: SnapshotKey[];
  revocations: string[];
  jws: string;
}

/** What a revocation statement (a compact JWS by the publisher key) says. */
export interface RevocationClaims {
  kid: string;
  revokedAt: string;
  reason: string;
}

/** A signed checkpoint of a merchant's chain head (SPEC §6). */
export interface Checkpoint {
  merchantId: string;
  seq: number;
  entryHash: string;
  /** rootHash(seq) of the merchant's log tree (SPEC §6.1), lowercase hex. */
  rootHash: string;
  createdAt: string;
  signingKeyKid: string;
  jws: string;
  timestamp: ReceiptTimestamp | null;
}

export const CHECKPOINT_ENVELOPE = ['jws', 'timestamp'] as const;

/** Inclusion proof of a receipt (SPEC §6.1, RFC 9162 §2.1.3); `treeSize` = `checkpoint.seq`. */
export interface InclusionProof {
  receiptId: string;
  /** The receipt's chain seq: leaf seq − 1. */
  seq: number;
  treeSize: number;
  /** Sibling hashes from the leaf up (lowercase hex). */
  auditPath: string[];
  checkpoint: Checkpoint;
}

/** Consistency proof between two checkpoints (SPEC §6.1, RFC 9162 §2.1.4). */
export interface ConsistencyProof {
  from: Checkpoint;
  to: Checkpoint;
  proof: string[];
}

/**
 * `<merchantId>-<YYYY>Q<n>` for a quarter's first key, and `-<k>` for its k-th key
 * (`-2` for the second, after `extra` 1), as the conformance vectors' independent
 * implementation numbers them (`mch_conf-2026Q3-2`); SPEC §5's "-<k>" says no more. Earlier
 * releases named the second key `-1`; such kids stay as they are (they are only names).
 */
export function kidFor(merchantId: string, at: Date, extra = 0): string {
  const quarter = Math.floor(at.getUTCMonth() / 3) + 1;
  const base = `${merchantId}-${at.getUTCFullYear()}Q${quarter}`;
  return extra > 0 ? `${base}-${extra + 1}` : base;
}

/**
 * The publisher key's kid: `publisher-` and the first 16 characters of the key's RFC 7638
 * thumbprint (SHA-256, base64url).
 */
export async function publisherKid(x: string): Promise<string> {
  // Loaded on first use: verifiers (CLI, workers, browser) never call this, and jose is ~47 files.
  const { calculateJwkThumbprint } = await import('jose');
  const thumbprint = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x }, 'sha256');
  return `publisher-${thumbprint.slice(0, 16)}`;
}

export function isKid(value: string): boolean {
  return KID_PATTERN.test(value);
}

/** SHA-256 hex of the JCS of a whole published snapshot document, `jws` included. */
export async function snapshotHash(snapshot: JwksSnapshot): Promise<string> {
  return sha256Hex(canonicalBytes(snapshot));
}

/** The snapshot without `jws`: what the publisher key signs. */
export function snapshotSignedPart(snapshot: JwksSnapshot | Omit<JwksSnapshot, 'jws'>) {
  return withoutMembers(snapshot, ['jws']);
}

/** Signed through its digest statement (SPEC §2.1), so any number of keys fits a KMS key. */
export function planSnapshotSignature(
  snapshot: Omit<JwksSnapshot, 'jws'>,
  publisherKid: string,
): Promise<SigningPlan> {
  return planDigestSignature(snapshotSignedPart(snapshot), publisherKid, JWS_TYPES.snapshot);
}

export function checkpointSignedPart(
  checkpoint: Checkpoint | Omit<Checkpoint, 'jws' | 'timestamp'>,
) {
  return withoutMembers(checkpoint, CHECKPOINT_ENVELOPE);
}

export function planCheckpointSignature(
  checkpoint: Omit<Checkpoint, 'jws' | 'timestamp'>,
): SigningPlan {
  return planSignature(
    checkpointSignedPart(checkpoint),
    checkpoint.signingKeyKid,
    JWS_TYPES.checkpoint,
  );
}
