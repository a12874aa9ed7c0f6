import { type Checkpoint, type Jurisdiction, periodOfSnapshotUrl } from '@quittance/format';

// What a bundle holds (SPEC §9, §9.1): the contract between the writer (@quittance/bundle) and
// this verifier. It lives here, not with the writer, so that the verifier needs nothing of the
// writer's (archiver, Node streams) and runs in a browser.

/** File names of a bundle (SPEC §9). */
export const FILES = {
  manifest: 'manifest.json',
  manifestJws: 'manifest.jws',
  receipts: 'receipts.jsonl',
  chain: 'chain.jsonl',
  checkpoints: 'checkpoints.jsonl',
  bodies: 'bodies.jsonl',
  log: 'log.json',
  proofs: 'proofs.jsonl',
  verify: 'VERIFY.md',
} as const;

/** `kind` of an order evidence bundle's manifest (SPEC §9.1); an export's manifest has none. */
export const EVIDENCE_KIND = 'order-evidence';

/** `kind` another writer may give an export's manifest (SPEC §9 names none). */
export const EXPORT_KIND = 'export';

export { JURISDICTIONS, type Jurisdiction } from '@quittance/format';

/** Where a bundle keeps the key snapshot of `period` (SPEC §9: `jwks/<YYYY-MM>.json`). */
export const snapshotPath = (period: string) => `jwks/${period}.json`;

/** The period of a bundle's snapshot file, or undefined for any other name. */
export function periodOfSnapshotPath(path: string): string | undefined {
  const period = periodOfSnapshotUrl(path);
  return period !== undefined && snapshotPath(period) === path ? period : undefined;
}

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * manifest.json of an export (SPEC §9) as Quittance writes it (README, "Bundle manifests").
 * The verifier reads other writers' manifests too: see `ManifestView` (manifest.ts).
 */
export interface Manifest {
  bundleId: string;
  merchantId: string;
  jurisdiction: Jurisdiction;
  retention: { years: number; legalBasis: string };
  range: {
    from: string;
    to: string;
    orderId: string | null;
    firstSeq: number | null;
    lastSeq: number | null;
  };
  createdAt: string;
  includeBodies: boolean;
  counts: {
    receipts: number;
    chainEntries: number;
    checkpoints: number;
    snapshots: number;
    tsaCertificates: number;
    bodies: number;
    bodiesUnavailable: number;
  };
  files: ManifestFile[];
}

/** One line of chain.jsonl: an audit log entry of SPEC §6. */
export interface ChainEntry {
  seq: number;
  prevHash: string;
  receiptId: string;
  receiptHash: string;
  entryHash: string;
}

/**
 * log.json (SPEC §9): the frontier (§6.1) of the log tree before the range's first entry `s`,
 * i.e. of entries 1..s − 1: one hash per set bit of `size`, largest subtree first.
 */
export interface LogFrontier {
  size: number;
  frontier: string[];
}

/** manifest.json of an order evidence bundle (SPEC §9.1) as Quittance writes it. */
export interface EvidenceManifest {
  kind: typeof EVIDENCE_KIND;
  bundleId: string;
  merchantId: string;
  /** The merchant's jurisdiction and its retention, as an export states them (SPEC §9.1). */
  jurisdiction: Jurisdiction;
  retention: { years: number; legalBasis: string };
  /** The order's receipts in the bundle: their first and last createdAt (to: just after) and seq. */
  range: Manifest['range'];
  orderId: string;
  createdAt: string;
  includeBodies: boolean;
  /** The one checkpoint every proof of proofs.jsonl is against. */
  checkpoint: { seq: number; rootHash: string };
  counts: {
    receipts: number;
    proofs: number;
    checkpoints: number;
    snapshots: number;
    tsaCertificates: number;
    bodies: number;
    bodiesUnavailable: number;
  };
  files: ManifestFile[];
}

/** One line of proofs.jsonl: a receipt's inclusion proof (SPEC §6.1) against the bundle's checkpoint. */
export interface ProofLine {
  receiptId: string;
  seq: number;
  treeSize: number;
  auditPath: string[];
  checkpoint: Checkpoint;
}
