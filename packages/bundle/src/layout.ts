import type { Checkpoint } from '@quittance/format';

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

export const snapshotPath = (period: string) => `jwks/${period}.json`;
export const tsaPath = (sha256: string) => `tsa/${sha256.slice(0, 16)}.pem`;

export const JURISDICTIONS = ['EU', 'US', 'BR', 'OTHER'] as const;
export type Jurisdiction = (typeof JURISDICTIONS)[number];

/**
 * Retention by jurisdiction (SPEC §9) and the basis Quittance states for it. These are
 * Quittance's defaults for commercial records, not legal advice; the text says so.
 */
export const RETENTION: Record<
  Jurisdiction,
  { years: number; legalBasis: string; posture: string }
> = {
  EU: {
    years: 6,
    legalBasis:
      'Commercial and tax record keeping in EU member states; six years covers commercial correspondence ' +
      'in the strictest common rule (e.g. German HGB §257(4)). Confirm the period for your member state.',
    posture:
      "Each receipt is an electronic signature by the merchant's key (eIDAS Art. 3(10)); with an RFC 3161 " +
      'timestamp it is a candidate for an advanced electronic seal with a trusted time (eIDAS Art. 36, 41). ' +
      'It is evidence, not a qualified electronic signature or seal: its weight is for the court to assess.',
  },
  US: {
    years: 7,
    legalBasis:
      'Seven years covers IRS guidance for records supporting a claim and audit-record rules such as ' +
      '17 CFR 210.2-06. Confirm the period for your records.',
    posture:
      'Each receipt is an electronic record with an electronic signature (E-SIGN Act, 15 U.S.C. 7001; UETA). ' +
      'Its admissibility and weight follow the Federal Rules of Evidence (e.g. FRE 901, 902(14)); the ' +
      'hash chain and timestamps are the integrity evidence.',
  },
  BR: {
    years: 5,
    legalBasis:
      'Five years: the tax statute of limitations (Código Tributário Nacional, arts. 173 and 174). Confirm ' +
      'the period for your records.',
    posture:
      'Each receipt is an electronic document signed outside ICP-Brasil; MP 2.200-2/2001 art. 10 §2 admits it ' +
      'as evidence when the parties accept the means of signature. It is evidence, not an ICP-Brasil ' +
      'qualified signature.',
  },
  OTHER: {
    years: 10,
    legalBasis:
      'Ten years: a conservative default where no jurisdiction was chosen. Confirm the period that applies.',
    posture:
      'Each receipt is an electronically signed record with a hash chain and trusted timestamps: evidence of ' +
      'integrity and time, not a qualified signature under any particular law.',
  },
};

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** manifest.json (SPEC §9). */
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

/** One line of bodies.jsonl (SPEC §9): the disclosed bodies of one receipt. */
export interface BodyLine {
  id: string;
  input: unknown;
  output: unknown;
}

/**
 * log.json (SPEC §9): the frontier (§6.1) of the log tree before the range's first entry `s`,
 * i.e. of entries 1..s − 1: one hash per set bit of `size`, largest subtree first.
 */
export interface LogFrontier {
  size: number;
  frontier: string[];
}

/** manifest.json of an order evidence bundle (SPEC §9.1). */
export interface EvidenceManifest {
  kind: typeof EVIDENCE_KIND;
  bundleId: string;
  merchantId: string;
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
