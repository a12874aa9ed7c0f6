import { type Jurisdiction, RETENTION_YEARS } from '@quittance/format';

// The bundle's names and shapes (SPEC §9, §9.1) are the verifier's (@quittance/verifier): it
// reads them without the writer, in a browser too. What only the writer needs is here.
export type {
  ChainEntry,
  EvidenceManifest,
  Jurisdiction,
  LogFrontier,
  Manifest,
  ManifestFile,
  ProofLine,
} from '@quittance/verifier';
export { EVIDENCE_KIND, FILES, JURISDICTIONS, snapshotPath } from '@quittance/verifier';

export const tsaPath = (sha256: string) => `tsa/${sha256.slice(0, 16)}.pem`;

/**
 * Retention by jurisdiction (SPEC §9) and the basis Quittance states for it. These are
 * Quittance's defaults for commercial records, not legal advice; the text says so.
 */
export const RETENTION: Record<
  Jurisdiction,
  { years: number; legalBasis: string; posture: string }
> = {
  EU: {
    years: RETENTION_YEARS.EU,
    legalBasis:
      'Commercial and tax record keeping in EU member states; six years covers commercial correspondence ' +
      'in the strictest common rule (e.g. German HGB §257(4)). Confirm the period for your member state.',
    posture:
      "Each receipt is an electronic signature by the merchant's key (eIDAS Art. 3(10)); with an RFC 3161 " +
      'timestamp it is a candidate for an advanced electronic seal with a trusted time (eIDAS Art. 36, 41). ' +
      'It is evidence, not a qualified electronic signature or seal: its weight is for the court to assess.',
  },
  US: {
    years: RETENTION_YEARS.US,
    legalBasis:
      'Seven years covers IRS guidance for records supporting a claim and audit-record rules such as ' +
      '17 CFR 210.2-06. Confirm the period for your records.',
    posture:
      'Each receipt is an electronic record with an electronic signature (E-SIGN Act, 15 U.S.C. 7001; UETA). ' +
      'Its admissibility and weight follow the Federal Rules of Evidence (e.g. FRE 901, 902(14)); the ' +
      'hash chain and timestamps are the integrity evidence.',
  },
  BR: {
    years: RETENTION_YEARS.BR,
    legalBasis:
      'Five years: the tax statute of limitations (Código Tributário Nacional, arts. 173 and 174). Confirm ' +
      'the period for your records.',
    posture:
      'Each receipt is an electronic document signed outside ICP-Brasil; MP 2.200-2/2001 art. 10 §2 admits it ' +
      'as evidence when the parties accept the means of signature. It is evidence, not an ICP-Brasil ' +
      'qualified signature.',
  },
  OTHER: {
    years: RETENTION_YEARS.OTHER,
    legalBasis:
      'Ten years: a conservative default where no jurisdiction was chosen. Confirm the period that applies.',
    posture:
      'Each receipt is an electronically signed record with a hash chain and trusted timestamps: evidence of ' +
      'integrity and time, not a qualified signature under any particular law.',
  },
};

/** One line of bodies.jsonl (SPEC §9): the disclosed bodies of one receipt. */
export interface BodyLine {
  id: string;
  input: unknown;
  output: unknown;
}
