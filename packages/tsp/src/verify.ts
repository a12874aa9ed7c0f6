import * as asn1js from 'asn1js';
import {
  Certificate,
  CertificateChainValidationEngine,
  ContentInfo,
  ExtKeyUsage,
  getCrypto,
  IssuerAndSerialNumber,
  SignedData,
  type SignerInfo,
  TimeStampResp,
  TSTInfo,
} from 'pkijs';
import {
  bytesEqual,
  copyBytes,
  digest,
  fromSchema,
  hashName,
  integerHex,
  OID,
  parseAsn1,
  toHex,
} from './bytes';
import { TspError } from './errors';
import { assertSigningCertificate } from './ess';
import { formatName } from './names';

/** What a verified token says, for storing next to the receipt. */
export interface VerifiedTimestamp {
  /** DER of the TimeStampToken (a CMS ContentInfo), exactly as the TSA sent it. */
  token: Uint8Array;
  genTime: Date;
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

interface ParsedCert {
  der: Uint8Array;
  cert: Certificate;
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
  const root = parseAsn1(responseDer, 'TimeStampResp');
  const response = fromSchema('TimeStampResp', () => new TimeStampResp({ schema: root }));
  assertGranted(response);
  const tokenBlock = (root as asn1js.Sequence).valueBlock.value[1];
  if (!response.timeStampToken || !tokenBlock) {
    throw new TspError('malformed', 'TimeStampResp is granted but carries no timeStampToken');
  }
  return verifyToken(copyBytes(tokenBlock.valueBeforeDecodeView), expected, expected.nonce);
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
  const anchors = parseAnchors(expected.trustAnchors);
  const token = parseToken(tokenDer);
  const { tstInfo, signerInfo } = token;
  const genTime = tstInfo.genTime;

  assertImprint(tstInfo, expected.imprint);
  if (nonce !== undefined) assertNonce(tstInfo, nonce);
  const signer = await verifySignature(token);
  await assertChain(signer, token.certificates, anchors, genTime);
  assertTimeStampingEku(signer.cert);
  await assertSigningCertificate(signerInfo.signedAttrs?.attributes ?? [], signer);
  assertWindow(genTime, expected);

  return {
    token: tokenDer,
    genTime,
    tsa: formatName(signer.cert.subject),
    policy: tstInfo.policy,
    serialNumber: integerHex(tstInfo.serialNumber),
    certificates: token.certificates.map((c) => copyBytes(c.der)),
  };
}

function assertGranted(response: TimeStampResp): void {
  const { status, statusStrings, failInfo } = response.status;
  if (status === 0 || status === 1) return;
  const failures = failInfo ? bitNames(failInfo) : [];
  const text = (statusStrings ?? []).map((s) => s.valueBlock.value).join('; ');
  const details = [
    `status ${status} (${STATUS_NAMES[status] ?? 'unknown'})`,
    ...(failures.length > 0 ? [`failInfo ${failures.join(',')}`] : []),
    ...(text ? [`"${text}"`] : []),
  ];
  throw new TspError('not_granted', `TSA did not grant the request: ${details.join(', ')}`, {
    retryable: status === 3 || failures.some((f) => TRANSIENT_FAIL_INFO.has(f)),
  });
}

function bitNames(bits: asn1js.BitString): string[] {
  const bytes = bits.valueBlock.valueHexView;
  const names: string[] = [];
  for (let i = 0; i < bytes.length * 8 - bits.valueBlock.unusedBits; i++) {
    if (((bytes[i >> 3] as number) & (0x80 >> (i & 7))) !== 0) {
      names.push(FAIL_INFO_NAMES[i] ?? `bit${i}`);
    }
  }
  return names;
}

function parseAnchors(anchors: readonly Uint8Array[]): ParsedCert[] {
  return anchors.map((der, i) => ({
    der: copyBytes(der),
    cert: fromSchema(
      `trustAnchors[${i}]`,
      () => new Certificate({ schema: parseAsn1(der, `trustAnchors[${i}]`) }),
    ),
  }));
}

interface ParsedToken {
  signerInfo: SignerInfo;
  tstInfo: TSTInfo;
  tstInfoDer: Uint8Array;
  certificates: ParsedCert[];
}

function parseToken(tokenDer: Uint8Array): ParsedToken {
  const root = parseAsn1(tokenDer, 'TimeStampToken');
  const contentInfo = fromSchema('TimeStampToken', () => new ContentInfo({ schema: root }));
  if (contentInfo.contentType !== OID.signedData) {
    throw new TspError('malformed', `TimeStampToken content type is ${contentInfo.contentType}`);
  }
  // The certificates' exact bytes (hashed by the ESS check) before pkijs rewrites any tags.
  const certificates = embeddedCertificates(contentInfo.content);
  const signedData = fromSchema(
    'TimeStampToken SignedData',
    () => new SignedData({ schema: contentInfo.content }),
  );
  const { eContentType, eContent } = signedData.encapContentInfo;
  if (eContentType !== OID.tstInfo) {
    throw new TspError('malformed', `eContentType is ${eContentType}, not id-ct-TSTInfo`);
  }
  if (!eContent) throw new TspError('malformed', 'TimeStampToken has no eContent');
  // RFC 3161 §2.4.2: the token MUST NOT carry any signature other than the TSA's.
  const [signerInfo, ...others] = signedData.signerInfos;
  if (!signerInfo || others.length > 0) {
    throw new TspError(
      'malformed',
      `TimeStampToken has ${signedData.signerInfos.length} signerInfos, expected 1`,
    );
  }
  const tstInfoDer = new Uint8Array(eContent.getValue());
  const tstInfo = fromSchema(
    'TSTInfo',
    () => new TSTInfo({ schema: parseAsn1(tstInfoDer, 'TSTInfo') }),
  );
  return { signerInfo, tstInfo, tstInfoDer, certificates };
}

function embeddedCertificates(signedDataBlock: unknown): ParsedCert[] {
  if (!(signedDataBlock instanceof asn1js.Sequence)) return [];
  // certificates [0] IMPLICIT CertificateSet; other CertificateChoices are [0]..[3] tagged.
  const set = signedDataBlock.valueBlock.value.find(
    (block) => block.idBlock.tagClass === 3 && block.idBlock.tagNumber === 0,
  );
  if (!(set instanceof asn1js.Constructed)) return [];
  return set.valueBlock.value
    .filter((block) => block instanceof asn1js.Sequence)
    .map((block, i) => {
      const der = copyBytes(block.valueBeforeDecodeView);
      return {
        der,
        cert: fromSchema(
          `token certificate ${i}`,
          () => new Certificate({ schema: parseAsn1(der, 'certificate') }),
        ),
      };
    });
}

function assertImprint(tstInfo: TSTInfo, imprint: Uint8Array): void {
  const { hashAlgorithm, hashedMessage } = tstInfo.messageImprint;
  if (hashAlgorithm.algorithmId !== OID.sha256) {
    throw new TspError(
      'imprint_mismatch',
      `messageImprint hash algorithm is ${hashAlgorithm.algorithmId}, expected SHA-256`,
    );
  }
  const actual = hashedMessage.valueBlock.valueHexView;
  if (!bytesEqual(actual, imprint)) {
    throw new TspError(
      'imprint_mismatch',
      `messageImprint is ${toHex(actual)}, expected ${toHex(imprint)}`,
    );
  }
}

function assertNonce(tstInfo: TSTInfo, nonce: bigint): void {
  if (!tstInfo.nonce) {
    throw new TspError('nonce_mismatch', `TSTInfo has no nonce, expected ${nonce.toString(16)}`);
  }
  const actual = tstInfo.nonce.toBigInt();
  if (actual !== nonce) {
    throw new TspError(
      'nonce_mismatch',
      `TSTInfo nonce is ${actual.toString(16)}, expected ${nonce.toString(16)}`,
    );
  }
}

async function verifySignature(token: ParsedToken): Promise<ParsedCert> {
  const { signerInfo, tstInfoDer } = token;
  const bad = (message: string, cause?: unknown) =>
    new TspError('bad_signature', message, { cause });
  const signer = await findSigner(signerInfo, token.certificates);
  if (!signer) {
    throw bad('no certificate in the token matches the signer identifier (was certReq set?)');
  }
  const hash = hashName(signerInfo.digestAlgorithm.algorithmId);
  if (!hash) throw bad(`unsupported digest algorithm ${signerInfo.digestAlgorithm.algorithmId}`);

  let signed = tstInfoDer;
  if (signerInfo.signedAttrs) {
    const attributes = signerInfo.signedAttrs.attributes;
    const single = (type: string, name: string) => {
      const found = attributes.filter((a) => a.type === type);
      if (found.length !== 1 || found[0]?.values.length !== 1) {
        throw bad(`signed attributes must hold exactly one ${name} value`);
      }
      return found[0].values[0] as asn1js.AsnType;
    };
    const contentType = single(OID.contentType, 'content-type');
    if (
      !(contentType instanceof asn1js.ObjectIdentifier) ||
      contentType.getValue() !== OID.tstInfo
    ) {
      throw bad('content-type signed attribute is not id-ct-TSTInfo');
    }
    const messageDigest = single(OID.messageDigest, 'message-digest');
    const actual = await digest(hash, tstInfoDer);
    if (
      !(messageDigest instanceof asn1js.OctetString) ||
      !bytesEqual(messageDigest.valueBlock.valueHexView, actual)
    ) {
      throw bad(`message-digest signed attribute does not match the ${hash} of the TSTInfo`);
    }
    // The signature covers the DER of the attributes with the SET OF tag (RFC 5652 §5.4).
    signed = new Uint8Array(signerInfo.signedAttrs.encodedValue);
  }

  let valid: boolean;
  try {
    const { signatureAlgorithm, signature } = signerInfo;
    // Plain rsaEncryption names no hash; the digest algorithm supplies it, as in pkijs.
    const isRsa = signatureAlgorithm.algorithmId === '1.2.840.113549.1.1.1';
    valid = await getCrypto(true).verifyWithPublicKey(
      signed as Uint8Array<ArrayBuffer>,
      signature,
      signer.cert.subjectPublicKeyInfo,
      signatureAlgorithm,
      isRsa ? hash : undefined,
    );
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw bad(`signature could not be verified: ${detail}`, error);
  }
  if (!valid) throw bad('CMS signature does not verify with the signer certificate key');
  return signer;
}

async function findSigner(
  signerInfo: SignerInfo,
  certificates: ParsedCert[],
): Promise<ParsedCert | undefined> {
  const sid = signerInfo.sid as unknown;
  if (sid instanceof IssuerAndSerialNumber) {
    return certificates.find(
      ({ cert }) => cert.issuer.isEqual(sid.issuer) && cert.serialNumber.isEqual(sid.serialNumber),
    );
  }
  // subjectKeyIdentifier [0]: match the certificate's SKI extension, or the RFC 5280 method 1
  // SHA-1 of the public key when the certificate has none.
  if (!(sid instanceof asn1js.BaseBlock)) return undefined;
  const keyId =
    sid instanceof asn1js.Constructed
      ? (sid.valueBlock.value[0] as asn1js.OctetString | undefined)?.valueBlock.valueHexView
      : (sid as asn1js.Primitive).valueBlock.valueHexView;
  if (!keyId) return undefined;
  for (const candidate of certificates) {
    const ski = candidate.cert.extensions?.find((e) => e.extnID === '2.5.29.14')?.parsedValue;
    const own =
      ski instanceof asn1js.OctetString
        ? ski.valueBlock.valueHexView
        : await digest(
            'SHA-1',
            candidate.cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView,
          );
    if (bytesEqual(own, keyId)) return candidate;
  }
  return undefined;
}

async function assertChain(
  signer: ParsedCert,
  certificates: ParsedCert[],
  anchors: ParsedCert[],
  genTime: Date,
): Promise<void> {
  const untrusted = (message: string) => new TspError('untrusted_chain', message);
  if (anchors.length === 0) throw untrusted('no trust anchors configured');
  const isAnchor = (c: ParsedCert) => anchors.some((a) => bytesEqual(a.der, c.der));
  if (isAnchor(signer)) {
    // Pinning the TSA certificate itself: pkijs would demand a CA above it, so only check time.
    const { notBefore, notAfter } = signer.cert;
    if (genTime < notBefore.value || genTime > notAfter.value) {
      throw untrusted(`pinned TSA certificate is not valid at genTime ${genTime.toISOString()}`);
    }
    return;
  }
  // pkijs takes the last certificate as the leaf, and keeps only one copy of duplicates.
  const intermediates = certificates.filter((c) => c !== signer && !isAnchor(c));
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
      `signer certificate ${formatName(signer.cert.subject)} does not chain to a trust anchor ` +
        `at genTime ${genTime.toISOString()}: ${result.resultMessage} ` +
        `(pkijs code ${result.resultCode})`,
    );
  }
}

function assertTimeStampingEku(cert: Certificate): void {
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
