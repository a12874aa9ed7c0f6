import { toHex } from '@quittance/format';
import { ExtKeyUsage } from 'pkijs';
import { bytesEqual, copyBytes, integerHex, OID } from './bytes';
import { type CertEntry, certificateEntry, subjectName } from './certs';
import { assertChain } from './chain';
import { toBigInt } from './der';
import { TspError } from './errors';
import { assertSigningCertificate } from './ess';
import { verifySignature } from './signature';
import { parseTimeStampResp, parseToken, type StatusInfo, type TstInfo } from './token';

/** What a verified token says, for storing next to the receipt. */
export interface VerifiedTimestamp {
  /** DER of the TimeStampToken (a CMS ContentInfo), exactly as the TSA sent it. */
  token: Uint8Array;
  genTime: Date;
  /**
   * TSTInfo.accuracy in milliseconds, 0 without one: the time is genTime ± accuracy, so what
   * the token proves existed did so by genTime + accuracy (RFC 3161 §2.4.2).
   */
  accuracyMs: number;
  /** RFC 4514 subject DN of the signer certificate, e.g. `CN=Test TSA,O=Quittance Test`. */
  tsa: string;
  /** TSA policy OID, dotted. */
  policy: string;
  /** TSTInfo serialNumber, lowercase hex. */
  serialNumber: string;
  /** DER of every certificate embedded in the token. */
  certificates: Uint8Array[];
}

export interface TokenExpectation {
  /** The 32-byte SHA-256 digest that was time-stamped. */
  imprint: Uint8Array;
  /** DER certificates the signer must chain to (a root CA, or the TSA certificate itself). */
  trustAnchors: Uint8Array[];
  /** Earliest acceptable genTime, inclusive. */
  notBefore?: Date;
  /** Latest acceptable genTime, inclusive. */
  notAfter?: Date;
}

const STATUS_NAMES = [
  'granted',
  'grantedWithMods',
  'rejection',
  'waiting',
  'revocationWarning',
  'revocationNotification',
];
// PKIFailureInfo bits used by RFC 3161 §2.4.2.
const FAIL_INFO_NAMES: Record<number, string> = {
  0: 'badAlg',
  2: 'badRequest',
  5: 'badDataFormat',
  14: 'timeNotAvailable',
  15: 'unacceptedPolicy',
  16: 'unacceptedExtension',
  17: 'addInfoNotAvailable',
  25: 'systemFailure',
};
// A TSA that is waiting, has no time source or failed internally may well succeed later.
const TRANSIENT_FAIL_INFO = new Set(['timeNotAvailable', 'systemFailure']);

/**
 * Verifies a TimeStampResp as received from a TSA: the status is granted (0 or 1), the nonce
 * is the request's, and the token passes every check of {@link verifyTimestampToken}.
 *
 * @throws TspError `not_granted` (retryable when the TSA reports waiting, timeNotAvailable or
 *   systemFailure), `nonce_mismatch`, or any code of {@link verifyTimestampToken}.
 */
export async function verifyTimestampResponse(
  responseDer: Uint8Array,
  expected: TokenExpectation & { nonce: bigint },
): Promise<VerifiedTimestamp> {
  const { status, token } = parseTimeStampResp(responseDer);
  assertGranted(status);
  if (!token) {
    throw new TspError('malformed', 'TimeStampResp is granted but carries no timeStampToken');
  }
  return verifyToken(token, expected, expected.nonce);
}

/**
 * Verifies a stored TimeStampToken offline, without the TSA, in this order:
 * 1. the TSTInfo messageImprint is SHA-256 and equals `expected.imprint` (`imprint_mismatch`);
 * 2. the CMS signature is valid: content-type and messageDigest signed attributes match the
 *    id-ct-TSTInfo eContent, and the signer certificate's key verifies (`bad_signature`);
 * 3. the signer certificate chains to one of `trustAnchors` at genTime, using the intermediate
 *    certificates of the token (`untrusted_chain`);
 * 4. its extendedKeyUsage is critical and exactly id-kp-timeStamping (`bad_eku`);
 * 5. the ESS signing-certificate(V2) attribute names the signer certificate (`ess_mismatch`);
 * 6. genTime lies in [notBefore, notAfter] when given (`gentime_out_of_window`).
 * Unparseable input fails with `malformed`. No error is retryable.
 *
 * Every step runs for every token. What depends only on certificates is kept between calls,
 * keyed by their exact DER and bounded: the parsed certificates, their imported keys and hashes,
 * and each successful chain validation together with the validity period it holds for.
 */
export async function verifyTimestampToken(
  tokenDer: Uint8Array,
  expected: TokenExpectation,
): Promise<VerifiedTimestamp> {
  return verifyToken(copyBytes(tokenDer), expected, undefined);
}

async function verifyToken(
  tokenDer: Uint8Array,
  expected: TokenExpectation,
  nonce: bigint | undefined,
): Promise<VerifiedTimestamp> {
  const anchors = expected.trustAnchors.map((der, i) =>
    certificateEntry(der, `trustAnchors[${i}]`),
  );
  const token = parseToken(tokenDer);
  const { tstInfo, signerInfo } = token;
  const genTime = tstInfo.genTime;

  assertImprint(tstInfo, expected.imprint);
  if (nonce !== undefined) assertNonce(tstInfo, nonce);
  const signer = await verifySignature(token);
  await assertChain(signer, token.certificates, anchors, genTime);
  assertTimeStampingEku(signer);
  await assertSigningCertificate(signerInfo.signedAttrs?.attributes ?? [], signer);
  assertWindow(genTime, expected);

  return {
    token: tokenDer,
    genTime,
    accuracyMs: tstInfo.accuracyMs,
    tsa: subjectName(signer),
    policy: tstInfo.policy,
    serialNumber: integerHex(tstInfo.serialNumber),
    certificates: token.certificates.map((c) => copyBytes(c.der)),
  };
}

function assertGranted({ status, statusStrings, failInfo }: StatusInfo): void {
  if (status === 0 || status === 1) return;
  const failures = failInfo.flatMap((set, i) => (set ? [FAIL_INFO_NAMES[i] ?? `bit${i}`] : []));
  const text = statusStrings.join('; ');
  const details = [
    `status ${status} (${STATUS_NAMES[status] ?? 'unknown'})`,
    ...(failures.length > 0 ? [`failInfo ${failures.join(',')}`] : []),
    ...(text ? [`"${text}"`] : []),
  ];
  throw new TspError('not_granted', `TSA did not grant the request: ${details.join(', ')}`, {
    retryable: status === 3 || failures.some((f) => TRANSIENT_FAIL_INFO.has(f)),
  });
}

function assertImprint(tstInfo: TstInfo, imprint: Uint8Array): void {
  if (tstInfo.imprintAlgorithm !== OID.sha256) {
    throw new TspError(
      'imprint_mismatch',
      `messageImprint hash algorithm is ${tstInfo.imprintAlgorithm}, expected SHA-256`,
    );
  }
  if (!bytesEqual(tstInfo.imprint, imprint)) {
    throw new TspError(
      'imprint_mismatch',
      `messageImprint is ${toHex(tstInfo.imprint)}, expected ${toHex(imprint)}`,
    );
  }
}

function assertNonce(tstInfo: TstInfo, nonce: bigint): void {
  if (!tstInfo.nonce) {
    throw new TspError('nonce_mismatch', `TSTInfo has no nonce, expected ${nonce.toString(16)}`);
  }
  const actual = toBigInt(tstInfo.nonce);
  if (actual !== nonce) {
    throw new TspError(
      'nonce_mismatch',
      `TSTInfo nonce is ${actual.toString(16)}, expected ${nonce.toString(16)}`,
    );
  }
}

function assertTimeStampingEku({ cert }: CertEntry): void {
  const bad = (message: string) => new TspError('bad_eku', message);
  const found = (cert.extensions ?? []).filter((e) => e.extnID === OID.extKeyUsage);
  if (found.length === 0) throw bad('signer certificate has no extendedKeyUsage extension');
  if (found.length > 1) throw bad('signer certificate has more than one extendedKeyUsage');
  const eku = found[0];
  // RFC 3161 §2.3: the TSA certificate MUST have this extension, marked critical.
  if (!eku?.critical) throw bad('signer certificate extendedKeyUsage is not critical');
  const purposes = eku.parsedValue instanceof ExtKeyUsage ? eku.parsedValue.keyPurposes : [];
  if (purposes.length !== 1 || purposes[0] !== OID.timeStamping) {
    throw bad(
      `signer certificate extendedKeyUsage is [${purposes.join(', ')}], expected exactly ` +
        `id-kp-timeStamping (${OID.timeStamping})`,
    );
  }
}

function assertWindow(genTime: Date, expected: TokenExpectation): void {
  const { notBefore, notAfter } = expected;
  if (notBefore && genTime.getTime() < notBefore.getTime()) {
    throw new TspError(
      'gentime_out_of_window',
      `genTime ${genTime.toISOString()} is before notBefore ${notBefore.toISOString()}`,
    );
  }
  if (notAfter && genTime.getTime() > notAfter.getTime()) {
    throw new TspError(
      'gentime_out_of_window',
      `genTime ${genTime.toISOString()} is after notAfter ${notAfter.toISOString()}`,
    );
  }
}
