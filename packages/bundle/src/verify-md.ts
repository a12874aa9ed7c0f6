import { type EvidenceManifest, FILES, type Manifest, RETENTION } from './layout';

/**
 * The one command, run in the Quittance source's folder: plain `npx quittance` elsewhere would
 * fetch whatever a registry calls quittance.
 */
const VERIFY_COMMAND = `With Node.js 20 or later, in the root folder of a copy of the Quittance source, after
\`npm ci\`:

    npx --no quittance verify BUNDLE.zip --publisher PUBLISHER.json

(\`--no\`: npx must never download a package of that name from a registry; the verifier is
the one in that folder.) Without Node, the Quittance verifier page (\`verify.html\`, one
file that makes no network request) runs the same checks in a web browser.`;

/**
 * What "canonical form" means in the steps by hand, and how to compute it: the files are
 * pretty-printed, so their bytes are not what is hashed and signed (an outside check hashed
 * `manifest.json` itself and saw the signature fail).
 */
const CANONICAL_FORM = `The **canonical form** of a JSON value is its RFC 8785 (JCS) serialization: members
sorted, no whitespace, numbers and strings written one way. The files are not in that form
(\`${FILES.manifest}\` is pretty-printed; a receipt's line has its signed members first and the
rest after), so where a step hashes or verifies "the canonical form" of a file or object,
compute it first: hashing a file's bytes gives another digest. Any RFC 8785 implementation
does, for example npm's \`canonicalize\` or Python's \`rfc8785\` package (\`pip install
rfc8785\`; where the system Python refuses installs, as Debian's does, in a virtual
environment: \`python3 -m venv v && v/bin/pip install rfc8785\`).
RFC 8785 reads every number as an IEEE 754 double, as JavaScript does, so large integers
such as \`123456789012345680000\` are valid; Python's \`rfc8785\` refuses integers beyond
2^53 unless they are read as floats:
\`rfc8785.dumps(json.load(open("manifest.json"), parse_int=float))\`.

The \`.jsonl\` files are JSON Lines separated by \`\\n\` only: a string may hold U+2028, which
some readers take for a line break (Python's \`splitlines\`); read them with
\`for line in open(path, encoding="utf-8")\`.

**Ed25519 with openssl.** A JWS here is \`HEADER.PAYLOAD.SIGNATURE\` (base64url); the signing
input is the ASCII of \`HEADER.PAYLOAD\`. Make a public key file from a JWK's \`x\` and verify:

    printf '302a300506032b6570032100%s' "$(printf %s X | basenc --base64url -d | xxd -p -c 64)" \\
      | xxd -r -p | openssl pkey -pubin -inform DER -out key.pem
    openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in signing-input -sigfile signature.bin

(\`X\` is \`x\` with \`=\` padding added to a multiple of 4 characters; \`signature.bin\` is the
decoded SIGNATURE.)`;

/**
 * When a receipt's key counts as valid (SPEC §5), in the words of both VERIFY.md files: an
 * outside auditor who followed only "not revoked before" asserted receipts that the SPEC and
 * the verifier leave unknown.
 */
const KEY_RULE = `The key must have \`merchantId\` equal to the receipt's and be valid
   at its \`createdAt\` (\`nbf\` ≤ \`createdAt\` < \`exp\` when \`exp\` is set). If the key is revoked at
   \`revokedAt\` (look in the newest snapshot: later snapshots know later revocations), a
   receipt with \`createdAt\` ≥ \`revokedAt\` is invalid; one dated before counts as valid only
   where a timestamp proves it existed before \`revokedAt\` (its own, or that of a checkpoint
   that covers it), because whoever stole a key can write any \`createdAt\`. A token proves it
   when its \`genTime\` plus its accuracy (RFC 3161: the time is \`genTime\` ± accuracy; the
   \`Accuracy:\` line of the command in the timestamp step, none meaning 0) is earlier than
   \`revokedAt\`. Without such a proof its validity is undetermined. A timestamp checked only against the certificates in
   \`tsa/\` is the operator's word, not a proof.`;

/**
 * Checking an RFC 3161 token with openssl, at the token's own time: without -attime the
 * command fails once the TSA's certificate has expired, years before the bundle's retention
 * ends (an outside auditor's finding).
 */
const TIMESTAMP_CHECK = `\`timestamp.token\` is a base64 RFC 3161 token over the SHA-256 of the
   signature part of \`jws\` (after the two dots), checked at the token's own time
   (\`-attime\`), so that a TSA certificate that expired since does not fail it:

       printf '%s' "<signature part>" | sha256sum
       echo "<token>" | base64 -d > token.der
       openssl ts -verify -token_in -in token.der -digest <that sha256> \\
         -attime "$(date -d "<timestamp.genTime>" +%s)" -CAfile YOUR-TSA-ROOTS.pem

   \`OPENSSL_CONF=/dev/null openssl ts -reply -token_in -in token.der -text\` shows the token's
   time, accuracy and policy (without \`OPENSSL_CONF=/dev/null\`, Debian's configuration names
   some policy OIDs, \`1.2.3.4.1\` as \`tsa_policy1\`): \`timestamp.policy\` must equal the OID,
   and \`timestamp.genTime\` the time, which prints as \`Dec  7 19:44:58 2026 GMT\` (\`date -u -d
   "Dec  7 19:44:58 2026 GMT" +%Y-%m-%dT%H:%M:%S\`; the fraction is compared when the token
   has one, else it is \`.000\`). The time must not be more than 5 minutes before the signed
   \`createdAt\`. \`tsa/\` holds the certificates the
   tokens embed and the TSA roots the operator trusts (\`cat tsa/*.pem > tsa.pem\`, then
   \`-CAfile tsa.pem\`): that checks the tokens against the bundle's own word; roots you
   obtained yourself prove the time. OpenSSL 3.0 cannot check a token that its TSA signed with
   Ed25519 (RFC 8419): \`openssl ts -verify\` reports a signature failure. Check such tokens
   with \`npx quittance verify\` or another CMS implementation of RFC 8419 (Bouncy Castle).`;

/**
 * VERIFY.md: written for an auditor who has never heard of Quittance. What each file is,
 * what the legal posture means in this jurisdiction, and the exact commands to verify.
 */
export function verifyMarkdown(manifest: Omit<Manifest, 'files'>): string {
  const retention = RETENTION[manifest.jurisdiction];
  const n = manifest.counts;
  return `# How to verify this bundle

This bundle holds the signed receipts that **${manifest.merchantId}** issued for actions AI
agents took in its store, exported on ${manifest.createdAt} for jurisdiction
**${manifest.jurisdiction}** (retention ${retention.years} years). Each receipt says who (\`agentId\`)
did what (\`bucket\`, \`tool\`) on which order (\`orderId\`), with SHA-256 hashes of the input and
output, when (\`createdAt\`), signed with the merchant's Ed25519 key.

Everything here can be checked offline with standard cryptography (Ed25519 JWS, SHA-256,
RFC 8785 JSON canonicalization, RFC 3161 timestamps). You need one thing from outside the
bundle: the **publisher key** of the service that issued it (a small JWKS file, published at
\`/.well-known/quittance-publisher.json\`). Obtain it independently (for example from the
merchant in writing) and compare it with any copy you are given: it is the root of trust.

## What the files are

| file | content |
|---|---|
| \`${FILES.manifest}\` | bundle id, merchant, jurisdiction, retention, range, counts, and the size and SHA-256 of every other file |
| \`${FILES.manifestJws}\` | the merchant's signature over the manifest (detached JWS, \`typ\` \`quittance-manifest+jws\`) |
| \`${FILES.receipts}\` | ${n.receipts} receipts, one JSON object per line, in audit-log order |
| \`${FILES.chain}\` | ${n.chainEntries} audit-log entries: the range, plus the entry just before it |
| \`${FILES.checkpoints}\` | ${n.checkpoints} signed checkpoints of the audit log, each with the \`rootHash\` of the log's Merkle tree, and an RFC 3161 \`timestamp\` once one was attached (\`null\` until then) |
| \`${FILES.log}\` | \`{"size", "frontier"}\`: the Merkle tree of the audit log before the range (its \`size\` entries summed up as one hash per set bit of \`size\`), from which every checkpoint's \`rootHash\` is recomputed |
| \`jwks/YYYY-MM.json\` | ${n.snapshots} key snapshots: every merchant key with its validity and revocations, signed by the publisher key |
| \`tsa/*.pem\` | ${tsaRow(n.tsaCertificates)} |
| \`${FILES.bodies}\` | ${manifest.includeBodies ? `${n.bodies} lines, one per receipt whose bodies are disclosed, in audit-log order: \`{"id", "input", "output"}\`${n.bodiesUnavailable ? `; ${n.bodiesUnavailable} receipts have no line (issued with hashes only, or bodies destroyed at the end of retention)` : ''}` : 'not in this export: bodies were not included'} |

## Verify everything with one command

${VERIFY_COMMAND}

It checks every file hash, the manifest signature, every snapshot signature, every receipt
signature and the key's validity at the receipt's time, every timestamp, every audit-log
link from the entry before the range, every checkpoint with its \`rootHash\` recomputed from
\`${FILES.log}\` and the audit-log entries, and every disclosed body against its hash; it prints a claim per check: **asserted** (proven), **refuted** (disproven), or
**unknown** (not proven with the evidence given). Exit status 0 means nothing was refuted.
Add \`--tsa-trust YOUR-TSA-ROOTS.pem\` to check timestamps against TSA roots you obtained
yourself instead of the certificates in \`tsa/\`.

## Verify by hand, with other tools

${CANONICAL_FORM}

1. **Files.** \`sha256sum\` each file and compare with \`files\` in \`${FILES.manifest}\`, which lists
   every file but \`${FILES.manifest}\` and \`${FILES.manifestJws}\` (step 2 checks those); no other file
   may be missing or added.
2. **Manifest.** \`${FILES.manifestJws}\` is \`HEADER..SIGNATURE\`, signed through a digest
   statement: let D be the lowercase hex SHA-256 of the RFC 8785 canonical form of
   \`${FILES.manifest}\`; the payload is the canonical form of \`{"sha256": D}\`. Base64url-encode
   the payload, put it between the two dots, and verify the compact JWS (alg \`EdDSA\`,
   Ed25519) with any JOSE library, using the key whose \`kid\` is in the header, taken from the
   newest \`jwks/\` snapshot. That key must be one of the manifest's \`merchantId\`, valid at the
   manifest's \`createdAt\` (as in step 4).
3. **Snapshots.** Each \`jwks/YYYY-MM.json\` carries \`jws\`, a detached JWS by the publisher
   key over the digest statement of the document without \`jws\` (D as in step 2, of that
   document). Verify it as in step 2 with your pinned publisher key. Each entry of its
   \`revocations\` is a compact JWS with its payload attached, signed by the publisher key:
   its \`kid\`, \`revokedAt\` and \`reason\` must equal that key's \`kid\`, \`revokedAt\` and
   \`revocationReason\` in the same snapshot. The bundle holds the newest version of each
   month's snapshot; \`version\` counts its re-issues within the month, and \`prevSnapshotHash\`
   is the SHA-256 hex of the canonical form of the previous version, its \`jws\` included
   (earlier versions are served at \`/.well-known/jwks/snapshot/YYYY-MM.json?version=N\`).
4. **Receipts.** For each line of \`${FILES.receipts}\`, remove \`jws\`, \`legal_posture\`,
   \`timestamp\` and \`chain\`; the canonical form of the rest is the payload P, signed directly
   (no digest statement): put the base64url of P between the two dots of \`jws\` and verify that
   compact JWS (header \`typ\` \`quittance-receipt+jws\`) with the key \`signingKeyKid\`. Take the
   key from the snapshot the receipt names: \`jwksSnapshotUrl\` ends in \`YYYY-MM.json\`, which is
   \`jwks/YYYY-MM.json\` here.
   ${KEY_RULE}
5. **Timestamps.** ${TIMESTAMP_CHECK}
6. **Audit log.** For each line of \`${FILES.chain}\`, \`entryHash\` is the SHA-256 of the canonical
   form of \`{"seq", "prevHash", "receiptId", "receiptHash"}\`, and \`prevHash\` is the previous
   line's \`entryHash\` (entry 1's is 64 zeros). \`receiptHash\` is the SHA-256 of the receipt's
   JWS with its payload put back (\`HEADER.PAYLOAD.SIGNATURE\`), for the entries whose
   \`receiptId\` is in \`${FILES.receipts}\`; the others (the entry just before the range, with
   which the file starts when the range does not start at seq 1, and in an export of one order
   the other orders' entries) are checked by their links only. Every receipt's \`merchantId\`
   is the manifest's: a chain is one merchant's.
7. **Checkpoints.** Each line of \`${FILES.checkpoints}\`: remove \`jws\` and \`timestamp\`, and verify
   \`jws\` over the canonical form of the rest as in step 4 (header \`typ\`
   \`quittance-checkpoint+jws\`), with the merchant's key \`signingKeyKid\` valid at the
   checkpoint's \`createdAt\`. Its \`entryHash\` must be that of the entry at its \`seq\` in
   \`${FILES.chain}\`, and its \`timestamp\`, when set, verifies as in step 5. Since each entry links
   to the one before, a timestamped checkpoint proves that every entry up to its \`seq\`, and
   so every receipt up to there, existed by the token's time. A checkpoint signed after the
   \`revokedAt\` of its key fails, even when the log is intact: a revocation dated back says
   the key was in other hands from then on, so what it signed since proves nothing. Later
   checkpoints by valid keys cover the same entries.
8. **Log tree.** The audit log is also an RFC 9162 Merkle tree: leaf \`n − 1\` is entry \`seq = n\`,
   leaf hash = SHA-256(0x00 ‖ the 32 bytes of \`entryHash\`), node = SHA-256(0x01 ‖ left ‖ right).
   \`${FILES.log}\` holds the roots of the perfect subtrees of entries 1..\`size\`, largest first.
   Append the entries of \`${FILES.chain}\` after \`size\` to it (like a binary counter: a new leaf
   merges with the last root while they cover equally many entries); at each checkpoint's \`seq\`,
   fold the roots from the right (\`r = last\`, then \`r = SHA-256(0x01 ‖ root ‖ r)\`): the result
   is its \`rootHash\`. Every receipt up to that \`seq\` is then in the log the checkpoint signs.
   Receipts after the last checkpoint of the range (the newest ones) are under no checkpoint
   in this bundle: the audit-log links and the manifest's signature cover them, and an
   inclusion proof from the service, or a later export, anchors them. A checkpoint after the
   range is not in the bundle (its root needs entries the bundle does not hold): a range that
   ends before the next checkpoint, as an export of one order often does, has no receipt
   under one here; the order's evidence bundle carries an inclusion proof for each.
9. **Bodies.** Each line of \`${FILES.bodies}\` is \`{"id", "input", "output"}\`: the SHA-256 of the
   canonical form of \`input\` (and \`output\`) equals \`inputHash\` (\`outputHash\`) of the receipt
   with that \`id\`. Lines follow the order of \`${FILES.receipts}\`, at most one per receipt.

${postureSection(manifest.jurisdiction)}`;
}

/** What the receipts' legal posture means in the jurisdiction, and its retention. */
function postureSection(jurisdiction: Manifest['jurisdiction']): string {
  const retention = RETENTION[jurisdiction];
  return `## What the legal posture means here (${jurisdiction})

${retention.posture}

\`legal_posture\` \`signed\` means the receipt is signed but has no timestamp yet;
\`ades_candidate_timestamped\` means an RFC 3161 token proves the signature existed at
\`timestamp.genTime\`.

Retention: ${retention.legalBasis}

This text explains what the evidence is; it is not legal advice.
`;
}

/**
 * VERIFY.md of an order evidence bundle (SPEC §9.1): for someone handling a payment dispute
 * who has never heard of Quittance.
 */
export function evidenceMarkdown(manifest: Omit<EvidenceManifest, 'files'>): string {
  const n = manifest.counts;
  return `# How to verify this order evidence

This bundle is the evidence of what AI agents did for order **${manifest.orderId}** in the store of
**${manifest.merchantId}**: ${n.receipts} signed receipts, made on ${manifest.createdAt}. Each receipt says
who (\`agentId\`) did what (\`bucket\`, \`tool\`) on the order, with SHA-256 hashes of the input and
output, when (\`createdAt\`), signed with the merchant's Ed25519 key. Each receipt comes with a proof
that it is in the merchant's append-only audit log, as of one signed checkpoint of that log
(seq ${manifest.checkpoint.seq}, root \`${manifest.checkpoint.rootHash}\`). A receipt of this order left out of this
bundle cannot be hidden from an auditor who holds the merchant's full export: both are
anchored in the same signed roots.

Everything here can be checked offline with standard cryptography (Ed25519 JWS, SHA-256,
RFC 8785 JSON canonicalization, RFC 9162 Merkle proofs, RFC 3161 timestamps). You need one
thing from outside the bundle: the **publisher key** of the service that issued it (a small
JWKS file, published at \`/.well-known/quittance-publisher.json\`). Obtain it independently and
compare it with any copy you are given: it is the root of trust.

## What the files are

| file | content |
|---|---|
| \`${FILES.manifest}\` | bundle id, merchant, jurisdiction, retention, the order and its range, the checkpoint, counts, and the size and SHA-256 of every other file; \`kind\` is \`order-evidence\` |
| \`${FILES.manifestJws}\` | the merchant's signature over the manifest (detached JWS, \`typ\` \`quittance-manifest+jws\`) |
| \`${FILES.receipts}\` | ${n.receipts} receipts of the order, one JSON object per line, in audit-log order |
| \`${FILES.proofs}\` | ${n.proofs} inclusion proofs, one per receipt in the same order: \`{"receiptId", "seq", "treeSize", "auditPath", "checkpoint"}\` |
| \`${FILES.checkpoints}\` | the one signed checkpoint all proofs are against |
| \`jwks/YYYY-MM.json\` | ${n.snapshots} key snapshots: every merchant key with its validity and revocations, signed by the publisher key |
| \`tsa/*.pem\` | ${tsaRow(n.tsaCertificates)} |
| \`${FILES.bodies}\` | ${manifest.includeBodies ? `${n.bodies} lines, one per receipt whose bodies are disclosed: \`{"id", "input", "output"}\`${n.bodiesUnavailable ? `; ${n.bodiesUnavailable} receipts have no line (issued with hashes only, or bodies destroyed)` : ''}` : 'not in this bundle: bodies were not included'} |

## Verify everything with one command

${VERIFY_COMMAND}

It checks every file hash, the manifest signature, every snapshot signature, the checkpoint's
signature (by a merchant key valid at its time) and timestamp, every receipt's signature, key
and timestamp, every inclusion proof against the checkpoint's \`rootHash\`, and every disclosed
body against its hash; it prints a claim per check: **asserted** (proven), **refuted**
(disproven), or **unknown** (not proven with the evidence given). Exit status 0 means nothing
was refuted.

## Verify by hand, with other tools

${CANONICAL_FORM}

1. **Files, manifest, snapshots.** Each file's SHA-256 matches \`files\` in \`${FILES.manifest}\`;
   \`${FILES.manifestJws}\` and each snapshot's \`jws\` verify through a digest statement (the payload is the
   base64url of the RFC 8785 canonical form of \`{"sha256": D}\`, D the SHA-256 hex of the canonical
   document, put between the two dots of the detached JWS); the manifest's with a key of the
   merchant valid at its \`createdAt\`, the snapshots' with your pinned publisher key, and
   each snapshot's \`revocations\` are compact JWS by the publisher key whose \`kid\`,
   \`revokedAt\` and \`reason\` equal that key's \`kid\`, \`revokedAt\` and \`revocationReason\`.
2. **Receipts.** Each receipt's \`jws\` verifies directly over the canonical form of the receipt
   without \`jws\`, \`legal_posture\`, \`timestamp\` and \`chain\`, with the key \`signingKeyKid\` from
   the snapshot \`jwks/YYYY-MM.json\` its \`jwksSnapshotUrl\` names.
   ${KEY_RULE}
3. **Timestamps.** ${TIMESTAMP_CHECK}
4. **Checkpoint.** Its \`jws\` verifies over the canonical form of the checkpoint without \`jws\` and
   \`timestamp\` (header \`typ\` \`quittance-checkpoint+jws\`), with the merchant key \`signingKeyKid\`
   valid at its \`createdAt\`; its \`timestamp\`, when set, verifies as in step 3.
5. **Leaf.** A receipt's audit-log entry is \`entryHash\` = SHA-256 of the canonical form of
   \`{"seq", "prevHash", "receiptId", "receiptHash"}\` (its \`chain\` member gives \`seq\` and \`prevHash\`;
   \`receiptHash\` is the SHA-256 of its JWS with the payload put back). Its leaf hash is
   SHA-256(0x00 ‖ the 32 bytes of \`entryHash\`).
6. **Inclusion.** Apply \`auditPath\` from that leaf (index \`seq − 1\` in a tree of \`treeSize\`
   entries) as RFC 9162 §2.1.3.2 says, nodes being SHA-256(0x01 ‖ left ‖ right): the result
   must be the checkpoint's \`rootHash\`.
7. **Bodies.** The SHA-256 of the canonical form of \`input\` (\`output\`) equals the receipt's
   \`inputHash\` (\`outputHash\`).

A timestamped checkpoint that includes a receipt proves the receipt existed by the
checkpoint's timestamp, even if the key that signed it was revoked later.

${postureSection(manifest.jurisdiction)}`;
}

/** The tsa/ row of the file table: its certificates, or why the folder is not there. */
function tsaRow(certificates: number): string {
  return certificates > 0
    ? `${certificates} certificates of the Time-Stamp Authorities whose tokens are attached`
    : 'not in this bundle: no Time-Stamp Authority certificate came with its timestamps (it may have none yet)';
}
