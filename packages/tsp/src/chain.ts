import { CertificateChainValidationEngine } from 'pkijs';
import { LruCache } from './cache';
import { type CertEntry, clearCertificateCache, subjectName } from './certs';
import { installEngine } from './engine';
import { TspError } from './errors';

/** The validity every certificate of a path validated by pkijs shares, in epoch ms. */
interface ValidatedChain {
  notBefore: number;
  notAfter: number;
}

// Keyed by the ids of the exact certificates given to the engine (see chainKey): only a success
// is kept, so a failing chain runs the engine again on every token.
const chains = new LruCache<string, ValidatedChain>(128);

/**
 * Asserts `signer` chains to one of `anchors` at `genTime`, with the token's other certificates
 * as intermediates (`untrusted_chain`). A signer that is itself an anchor is pinned: only its
 * validity at genTime is checked.
 *
 * The pkijs engine's answer depends on the certificates and on genTime only through the validity
 * of the path it picks: path building, signatures, CA flags, key usage, name constraints and
 * policies do not look at the date. So a success is remembered for those exact certificates
 * together with the intersection of the path's validity periods, and reused only for a genTime
 * inside it. Any other genTime, anchor set or intermediate set runs the engine again.
 */
export async function assertChain(
  signer: CertEntry,
  certificates: readonly CertEntry[],
  anchors: readonly CertEntry[],
  genTime: Date,
): Promise<void> {
  const untrusted = (message: string) => new TspError('untrusted_chain', message);
  if (anchors.length === 0) throw untrusted('no trust anchors configured');
  const isAnchor = (c: CertEntry) => anchors.some((a) => a.key === c.key);
  const time = genTime.getTime();
  if (isAnchor(signer)) {
    // Pinning the TSA certificate itself: pkijs would demand a CA above it, so only check time.
    if (time < signer.notBefore || time > signer.notAfter) {
      throw untrusted(`pinned TSA certificate is not valid at genTime ${genTime.toISOString()}`);
    }
    return;
  }
  // pkijs takes the last certificate as the leaf, and keeps only one copy of duplicates.
  const intermediates = certificates.filter((c) => c.key !== signer.key && !isAnchor(c));
  const key = chainKey(signer, intermediates, anchors);
  const known = chains.get(key);
  if (known && known.notBefore <= time && time <= known.notAfter) return;

  installEngine();
  const engine = new CertificateChainValidationEngine({
    trustedCerts: anchors.map((a) => a.cert),
    certs: [...intermediates.map((c) => c.cert), signer.cert],
    checkDate: genTime,
  });
  let result: Awaited<ReturnType<CertificateChainValidationEngine['verify']>>;
  try {
    result = await engine.verify();
  } catch (error) {
    throw new TspError('untrusted_chain', `chain validation failed: ${String(error)}`, {
      cause: error,
    });
  }
  if (!result.result) {
    throw untrusted(
      `signer certificate ${subjectName(signer)} does not chain to a trust anchor ` +
        `at genTime ${genTime.toISOString()}: ${result.resultMessage} ` +
        `(pkijs code ${result.resultCode})`,
    );
  }
  const path = result.certificatePath ?? [];
  if (path.length > 0) {
    // The engine checked notBefore <= genTime <= notAfter for each of these (pkijs basicCheck).
    chains.set(key, {
      notBefore: Math.max(...path.map((c) => c.notBefore.value.getTime())),
      notAfter: Math.min(...path.map((c) => c.notAfter.value.getTime())),
    });
  }
}

function chainKey(
  signer: CertEntry,
  intermediates: readonly CertEntry[],
  anchors: readonly CertEntry[],
): string {
  // Entry ids are never reused, so equal keys mean byte-identical inputs in the same order.
  const ids = (entries: readonly CertEntry[]) => entries.map((e) => e.id).join(',');
  return `${signer.id};${ids(intermediates)};${ids(anchors)}`;
}

/** Forgets every cached certificate and chain result (for tests). */
export function clearVerificationCaches(): void {
  chains.clear();
  clearCertificateCache();
}
