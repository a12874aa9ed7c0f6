import type { Claim, ClaimStatus } from '@quittance/verifier';

/** What a claim checks, and what each outcome means, for a reader who is not an engineer. */
interface ClaimWords {
  title: string;
  asserted: string;
  refuted: string;
  unknown: string;
}

const CLAIMS: Record<string, ClaimWords> = {
  signature_valid: {
    title: 'Signature',
    asserted: 'Signed by the key it names, and not changed by a single character since.',
    refuted: 'Changed after it was signed, or not signed by the key it names.',
    unknown: 'The signature could not be checked.',
  },
  key_valid_at_issuance: {
    title: 'Signing key valid at the time',
    asserted:
      'The signing key was in service (not expired, not revoked) when the receipt was made.',
    refuted:
      'The signing key was not valid at the time the receipt claims: unknown, not yet active, expired or revoked.',
    unknown: 'This evidence cannot show whether the signing key was valid at that time.',
  },
  timestamp_valid: {
    title: 'Independent timestamp',
    asserted: 'A timestamp authority confirms the receipt existed at that time.',
    refuted: 'The timestamp does not verify or does not belong to this receipt.',
    unknown:
      "No timestamp was checked: the receipt has none, or no timestamp authority's certificate is pinned.",
  },
  chain_linked: {
    title: "Place in the merchant's audit log",
    asserted: 'Linked to the entry before it in the merchant’s hash-chained log.',
    refuted: 'The link to the entry before it is broken: the log was altered.',
    unknown: 'The entry before it is not part of this evidence, so the link cannot be checked.',
  },
  included_in_log: {
    title: 'Included in a signed checkpoint of the log',
    asserted: 'A signed checkpoint of the log includes this receipt.',
    refuted: 'The inclusion proof does not match this receipt or its checkpoint.',
    unknown: 'No inclusion proof was given, so inclusion is not proven.',
  },
  snapshot_authentic: {
    title: 'Key list signed by the publisher',
    asserted: 'The list of signing keys is signed by the publisher key pinned in this browser.',
    refuted: 'The list of signing keys is not signed by the pinned publisher key, or was altered.',
    unknown: 'No publisher key is pinned: the list of signing keys is the operator’s word.',
  },
  body_matches: {
    title: 'Disclosed content matches',
    asserted: 'The disclosed input and output are exactly what was signed.',
    refuted: 'The disclosed input or output differs from what was signed.',
    unknown: 'The disclosed content could not be compared.',
  },
  files_intact: {
    title: 'All files present and unaltered',
    asserted: 'Every file the manifest lists is present with the size and hash it states.',
    refuted: 'A file is missing, extra, or differs from what the manifest states.',
    unknown: 'The files could not be compared with the manifest.',
  },
  manifest_valid: {
    title: 'Manifest signed by the merchant',
    asserted: 'The manifest (the list of files) is signed by a valid merchant key.',
    refuted: 'The manifest is not validly signed, or was altered.',
    unknown: 'The manifest’s signature could not be checked.',
  },
  chain_complete: {
    title: 'Audit log complete',
    asserted: 'The log entries form one unbroken chain, with none missing.',
    refuted: 'Log entries are missing, duplicated or out of order.',
    unknown: 'The completeness of the log could not be checked.',
  },
  checkpoints_valid: {
    title: 'Checkpoints signed',
    asserted: 'Every checkpoint of the log is validly signed and matches the log.',
    refuted: 'A checkpoint is not validly signed or does not match the log.',
    unknown: 'No checkpoint could be checked.',
  },
  log_consistent: {
    title: 'Log consistent with its checkpoints',
    asserted: 'The log recomputes the roots its checkpoints signed: nothing was rewritten.',
    refuted: 'The log does not recompute a signed checkpoint: it was rewritten.',
    unknown: 'No checkpoint falls in this range, so consistency is not proven.',
  },
};

const STATUS_WORDS: Record<ClaimStatus, string> = {
  asserted: 'Passed',
  refuted: 'Failed',
  unknown: 'Not proven',
};

const SOURCE_WORDS: Record<Claim['source'], string> = {
  verifier_derived: 'checked by this page',
  operator_asserted: "the operator's statement, not checked",
};

export const claimTitle = (name: string) => CLAIMS[name]?.title ?? name.replaceAll('_', ' ');
export const statusWords = (status: ClaimStatus) => STATUS_WORDS[status];
export const sourceWords = (source: Claim['source']) => SOURCE_WORDS[source] ?? source;

/** The sentence that says what this outcome of this claim means. */
export function claimMeaning(name: string, status: ClaimStatus): string {
  return CLAIMS[name]?.[status] ?? STATUS_WORDS[status];
}
