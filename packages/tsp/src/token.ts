import { OID } from './bytes';
import { type CertEntry, certificateEntry } from './certs';
import {
  assertWellFormed,
  bitsOf,
  booleanOf,
  CONTEXT,
  childrenOf,
  contentOf,
  encodingOf,
  Fields,
  generalizedTimeOf,
  integerOf,
  isContext,
  isUniversal,
  octetStringValue,
  octetsOf,
  oidOf,
  readDer,
  TAG,
  type Tlv,
  toBigInt,
} from './der';
import { TspError } from './errors';

// The structures of RFC 3161 and RFC 5652 that change with every token, read with der.ts. Each
// parser follows its ASN.1 definition field by field, as the pkijs schemas did, and rejects
// anything left over.

/** PKIStatusInfo (RFC 3161 §2.4.2). */
export interface StatusInfo {
  status: number;
  statusStrings: string[];
  /** PKIFailureInfo bits, bit 0 first. */
  failInfo: boolean[];
}

export interface AlgorithmId {
  oid: string;
  /** The whole AlgorithmIdentifier, for algorithms whose parameters matter (RSASSA-PSS). */
  der: Uint8Array;
}

export interface SignedAttribute {
  type: string;
  values: Tlv[];
}

export type SignerId = { issuer: Tlv; serial: Uint8Array } | { keyId: Uint8Array };

export interface SignerInfo {
  sid: SignerId;
  digestAlgorithm: AlgorithmId;
  signedAttrs?: {
    attributes: SignedAttribute[];
    /** What the signature covers: the attributes' encoding with the SET OF tag (RFC 5652 §5.4). */
    der: Uint8Array;
  };
  signatureAlgorithm: AlgorithmId;
  signature: Uint8Array;
}

export interface TstInfo {
  policy: string;
  imprintAlgorithm: string;
  imprint: Uint8Array;
  serialNumber: Uint8Array;
  genTime: Date;
  /** TSTInfo.accuracy in milliseconds (micros rounded up); 0 when the token gives none. */
  accuracyMs: number;
  nonce?: Uint8Array;
}

export interface ParsedToken {
  signerInfo: SignerInfo;
  tstInfo: TstInfo;
  tstInfoDer: Uint8Array;
  /** The certificates of the token's CertificateSet, parsed (from the cache when seen before). */
  certificates: CertEntry[];
}

const malformed = (message: string) => new TspError('malformed', message);
const isSequence = (tlv: Tlv) => isUniversal(tlv, TAG.sequence) && tlv.constructed;

/** Splits a TimeStampResp into its status and the DER of its token, if any. */
export function parseTimeStampResp(bytes: Uint8Array): {
  status: StatusInfo;
  token: Uint8Array | undefined;
} {
  const fields = Fields.of(readDer(bytes, 'TimeStampResp'), 'TimeStampResp');
  const status = parseStatusInfo(fields.next('status'));
  const token = fields.optional(TAG.sequence);
  fields.end();
  return { status, token: token && encodingOf(token).slice() };
}

function parseStatusInfo(tlv: Tlv): StatusInfo {
  const fields = Fields.of(tlv, 'PKIStatusInfo');
  const status = toBigInt(integerOf(fields.next('status'), 'PKIStatusInfo.status'));
  if (status < 0n || status > 5n) {
    throw malformed(`PKIStatusInfo.status has invalid value ${status}`);
  }
  const text = fields.optional(TAG.sequence);
  const failInfo = fields.optional(TAG.bitString);
  fields.end();
  const decoder = new TextDecoder();
  return {
    status: Number(status),
    statusStrings: (text ? childrenOf(text, 'PKIStatusInfo.statusString') : []).map((s) => {
      if (!isUniversal(s, TAG.utf8String) || s.constructed) {
        throw malformed('PKIStatusInfo.statusString holds a value that is not a UTF8String');
      }
      return decoder.decode(contentOf(s));
    }),
    failInfo: failInfo ? bitsOf(failInfo, 'PKIStatusInfo.failInfo') : [],
  };
}

/**
 * Reads a TimeStampToken: ContentInfo { id-signedData, SignedData { version, digestAlgorithms,
 * encapContentInfo { id-ct-TSTInfo, TSTInfo }, certificates, crls, signerInfos } }.
 *
 * @throws TspError `malformed` when any part does not match its ASN.1 definition.
 */
export function parseToken(tokenDer: Uint8Array): ParsedToken {
  const contentInfo = Fields.of(readDer(tokenDer, 'TimeStampToken'), 'TimeStampToken');
  const contentType = oidOf(contentInfo.next('contentType'), 'TimeStampToken.contentType');
  const content = explicit(contentInfo.next('content'), 0, 'TimeStampToken.content');
  contentInfo.end();
  if (contentType !== OID.signedData) {
    throw malformed(`TimeStampToken content type is ${contentType}`);
  }

  const signedData = Fields.of(content, 'SignedData');
  integerOf(signedData.next('version'), 'SignedData.version');
  const digestAlgorithms = setOf(
    signedData.next('digestAlgorithms'),
    'SignedData.digestAlgorithms',
  );
  for (const [i, algorithm] of digestAlgorithms.entries()) {
    parseAlgorithm(algorithm, `SignedData.digestAlgorithms[${i}]`);
  }
  const encap = Fields.of(signedData.next('encapContentInfo'), 'SignedData.encapContentInfo');
  const eContentType = oidOf(encap.next('eContentType'), 'SignedData.eContentType');
  const eContent = encap.optional(0, CONTEXT);
  encap.end();
  const certificateSet = signedData.optional(0, CONTEXT);
  const crls = signedData.optional(1, CONTEXT);
  const signerInfosSet = signedData.next('signerInfos');
  const signerInfos = setOf(signerInfosSet, 'SignedData.signerInfos');
  signedData.end();
  if (crls && !crls.constructed) throw malformed('SignedData.crls is not constructed');
  // Everything but the certificates (which pkijs parses) is read below or checked here.
  for (const part of [...digestAlgorithms, signerInfosSet, ...(crls ? [crls] : [])]) {
    assertWellFormed(part, 'SignedData');
  }

  // The certificates' exact bytes (hashed by the ESS check, compared as trust anchors).
  const certificates = certificateSet ? parseCertificateSet(certificateSet) : [];
  if (eContentType !== OID.tstInfo) {
    throw malformed(`eContentType is ${eContentType}, not id-ct-TSTInfo`);
  }
  if (!eContent) throw malformed('TimeStampToken has no eContent');
  // RFC 3161 §2.4.2: the token MUST NOT carry any signature other than the TSA's.
  const [signerInfo, ...others] = signerInfos;
  if (!signerInfo || others.length > 0) {
    throw malformed(`TimeStampToken has ${signerInfos.length} signerInfos, expected 1`);
  }
  const tstInfoDer = octetStringValue(
    explicit(eContent, 0, 'SignedData.eContent'),
    'SignedData.eContent',
  );
  return {
    signerInfo: parseSignerInfo(signerInfo),
    tstInfo: parseTstInfo(tstInfoDer),
    tstInfoDer,
    certificates,
  };
}

/** The one element inside a `[tag] EXPLICIT` element. */
function explicit(tlv: Tlv, tag: number, what: string): Tlv {
  if (!isContext(tlv, tag) || !tlv.constructed) throw malformed(`${what} is not [${tag}]`);
  const [inner, ...rest] = childrenOf(tlv, what);
  if (!inner || rest.length > 0) throw malformed(`${what} must hold exactly one element`);
  return inner;
}

function setOf(tlv: Tlv, what: string): Tlv[] {
  if (!isUniversal(tlv, TAG.set) || !tlv.constructed) throw malformed(`${what} is not a SET`);
  return childrenOf(tlv, what);
}

function parseAlgorithm(tlv: Tlv, what: string): AlgorithmId {
  // AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }
  const fields = Fields.of(tlv, what);
  const oid = oidOf(fields.next('algorithm'), `${what}.algorithm`);
  fields.any();
  fields.end();
  return { oid, der: encodingOf(tlv) };
}

function parseCertificateSet(set: Tlv): CertEntry[] {
  if (!set.constructed) throw malformed('SignedData.certificates is not constructed');
  const certificates: CertEntry[] = [];
  for (const choice of childrenOf(set, 'SignedData.certificates')) {
    if (isSequence(choice)) {
      const what = `token certificate ${certificates.length}`;
      certificates.push(certificateEntry(encodingOf(choice), what));
    } else if (choice.tagClass === CONTEXT && choice.tagNumber <= 3 && choice.constructed) {
      // The other CertificateChoices ([0]..[3]) take part in no check.
      assertWellFormed(choice, 'SignedData.certificates');
    } else {
      throw malformed('SignedData.certificates holds an element that is no CertificateChoices');
    }
  }
  return certificates;
}

function parseSignerInfo(tlv: Tlv): SignerInfo {
  const fields = Fields.of(tlv, 'SignerInfo');
  integerOf(fields.next('version'), 'SignerInfo.version');
  const sid = parseSignerId(fields.next('sid'));
  const digestAlgorithm = parseAlgorithm(
    fields.next('digestAlgorithm'),
    'SignerInfo.digestAlgorithm',
  );
  const signed = fields.optional(0, CONTEXT);
  const signatureAlgorithm = parseAlgorithm(
    fields.next('signatureAlgorithm'),
    'SignerInfo.signatureAlgorithm',
  );
  const signature = octetsOf(fields.next('signature'), 'SignerInfo.signature');
  const unsigned = fields.optional(1, CONTEXT);
  fields.end();
  if (unsigned && !unsigned.constructed) throw malformed('SignerInfo.unsignedAttrs is not a SET');

  const info: SignerInfo = { sid, digestAlgorithm, signatureAlgorithm, signature };
  if (signed) {
    if (!signed.constructed) throw malformed('SignerInfo.signedAttrs is not a SET');
    const attributes = childrenOf(signed, 'SignerInfo.signedAttrs').map(parseAttribute);
    if (attributes.length === 0) throw malformed('SignerInfo.signedAttrs is empty');
    const der = encodingOf(signed).slice();
    der[0] = 0x31;
    info.signedAttrs = { attributes, der };
  }
  return info;
}

function parseSignerId(tlv: Tlv): SignerId {
  if (isSequence(tlv)) {
    // IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }
    const fields = Fields.of(tlv, 'SignerInfo.sid');
    const issuer = fields.next('issuer');
    if (!isSequence(issuer)) throw malformed('SignerInfo.sid.issuer is not a Name');
    const serial = integerOf(fields.next('serialNumber'), 'SignerInfo.sid.serialNumber');
    fields.end();
    return { issuer, serial };
  }
  if (isContext(tlv, 0)) {
    // subjectKeyIdentifier [0]: IMPLICIT as RFC 5652 defines it, or wrapping an OCTET STRING.
    if (!tlv.constructed) return { keyId: contentOf(tlv) };
    return { keyId: octetsOf(explicit(tlv, 0, 'SignerInfo.sid'), 'SignerInfo.sid') };
  }
  throw malformed('SignerInfo.sid is neither issuerAndSerialNumber nor subjectKeyIdentifier');
}

function parseAttribute(tlv: Tlv, i: number): SignedAttribute {
  // Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF AttributeValue }
  const what = `SignerInfo.signedAttrs[${i}]`;
  const fields = Fields.of(tlv, what);
  const type = oidOf(fields.next('attrType'), `${what}.attrType`);
  const values = setOf(fields.next('attrValues'), `${what}.attrValues`);
  fields.end();
  return { type, values };
}

function parseTstInfo(der: Uint8Array): TstInfo {
  const root = readDer(der, 'TSTInfo');
  assertWellFormed(root, 'TSTInfo');
  const fields = Fields.of(root, 'TSTInfo');
  integerOf(fields.next('version'), 'TSTInfo.version');
  const policy = oidOf(fields.next('policy'), 'TSTInfo.policy');
  const imprint = Fields.of(fields.next('messageImprint'), 'TSTInfo.messageImprint');
  const hashAlgorithm = parseAlgorithm(
    imprint.next('hashAlgorithm'),
    'TSTInfo.messageImprint.hashAlgorithm',
  );
  const hashedMessage = octetsOf(
    imprint.next('hashedMessage'),
    'TSTInfo.messageImprint.hashedMessage',
  );
  imprint.end();
  const serialNumber = integerOf(fields.next('serialNumber'), 'TSTInfo.serialNumber');
  const genTime = generalizedTimeOf(fields.next('genTime'), 'TSTInfo.genTime');
  const accuracy = fields.optional(TAG.sequence);
  const accuracyMs = accuracy ? accuracyMsOf(accuracy) : 0;
  const ordering = fields.optional(TAG.boolean);
  if (ordering) booleanOf(ordering, 'TSTInfo.ordering');
  const nonce = fields.optional(TAG.integer);
  const tsa = fields.optional(0, CONTEXT);
  // tsa [0] GeneralName: a CHOICE, so EXPLICIT; every GeneralName form is context-tagged.
  if (tsa && explicit(tsa, 0, 'TSTInfo.tsa').tagClass !== CONTEXT) {
    throw malformed('TSTInfo.tsa is not a GeneralName');
  }
  const extensions = fields.optional(1, CONTEXT);
  if (extensions) assertExtensions(extensions);
  fields.end();
  const info: TstInfo = {
    policy,
    imprintAlgorithm: hashAlgorithm.oid,
    imprint: hashedMessage,
    serialNumber,
    genTime,
    accuracyMs,
  };
  if (nonce) info.nonce = integerOf(nonce, 'TSTInfo.nonce');
  return info;
}

/**
 * TSTInfo.accuracy in milliseconds: the token's time is genTime ± accuracy (RFC 3161 §2.4.2),
 * so what it proves existed did so by genTime + accuracy, not by genTime.
 */
function accuracyMsOf(tlv: Tlv): number {
  // Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL,
  //   micros [1] INTEGER (1..999) OPTIONAL }, the last two IMPLICIT.
  const fields = Fields.of(tlv, 'TSTInfo.accuracy');
  const seconds = fields.optional(TAG.integer);
  let ms = seconds
    ? smallNonNegative(integerOf(seconds, 'TSTInfo.accuracy.seconds'), 'seconds') * 1000
    : 0;
  for (const [tag, name, scale] of [
    [0, 'millis', 1],
    [1, 'micros', 1 / 1000],
  ] as const) {
    const part = fields.optional(tag, CONTEXT);
    if (!part) continue;
    if (part.constructed || part.contentEnd === part.contentStart) {
      throw malformed(`TSTInfo.accuracy [${tag}] is not an INTEGER`);
    }
    ms += smallNonNegative(contentOf(part), name) * scale;
  }
  fields.end();
  return Math.ceil(ms);
}

/** A DER INTEGER's value as a number, refused when negative or beyond a day of seconds. */
function smallNonNegative(bytes: Uint8Array, name: string): number {
  if (bytes.length > 4 || ((bytes[0] as number) & 0x80) !== 0)
    throw malformed(`TSTInfo.accuracy.${name} is negative or too large`);
  let value = 0;
  for (const byte of bytes) value = value * 256 + byte;
  if (value > 86_400_000) throw malformed(`TSTInfo.accuracy.${name} is too large`);
  return value;
}

function assertExtensions(tlv: Tlv): void {
  // [1] IMPLICIT Extensions; Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }
  if (!tlv.constructed) throw malformed('TSTInfo.extensions is not a SEQUENCE');
  for (const [i, extension] of childrenOf(tlv, 'TSTInfo.extensions').entries()) {
    const what = `TSTInfo.extensions[${i}]`;
    const fields = Fields.of(extension, what);
    oidOf(fields.next('extnID'), `${what}.extnID`);
    const critical = fields.optional(TAG.boolean);
    if (critical) booleanOf(critical, `${what}.critical`);
    octetsOf(fields.next('extnValue'), `${what}.extnValue`);
    fields.end();
  }
}

/**
 * DER of every certificate a TimeStampToken embeds, e.g. to ship them with an export so that
 * its timestamps verify offline. Parses, does not verify.
 */
export function tokenCertificates(tokenDer: Uint8Array): Uint8Array[] {
  return parseToken(tokenDer).certificates.map((entry) => entry.der);
}
