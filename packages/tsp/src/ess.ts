import { toHex } from '@quittance/format';
import { bytesEqual, hashName, integerHex, OID } from './bytes';
import { type CertEntry, certificateDigest } from './certs';
import {
  childrenOf,
  Fields,
  integerOf,
  isContext,
  isUniversal,
  octetsOf,
  oidOf,
  TAG,
  type Tlv,
} from './der';
import { TspError } from './errors';
import { isSameName } from './names';
import type { SignedAttribute } from './token';

/** The parts of an ESSCertID / ESSCertIDv2 that identify a certificate. */
interface EssCertId {
  /** WebCrypto digest name. */
  hash: string;
  certHash: Uint8Array;
  issuerSerial?: { issuer: Tlv; serial: Uint8Array };
}

const mismatch = (message: string) => new TspError('ess_mismatch', message);

/**
 * Checks the ESS signing-certificate attribute (RFC 2634 / RFC 5035, required by RFC 3161 and
 * RFC 5816) binds the signature to `signer`: the first ESSCertID's hash is the hash of the
 * signer certificate's DER and its issuerSerial, when present, names the same certificate.
 * This stops a signer certificate being swapped for another with the same key. Runs for every
 * token; only the certificate's own hash is cached.
 */
export async function assertSigningCertificate(
  signedAttrs: readonly SignedAttribute[],
  signer: CertEntry,
): Promise<void> {
  // RFC 5816 prefers v2; a TSA may include both, and then both must hold.
  const v2 = signedAttrs.filter((a) => a.type === OID.signingCertificateV2);
  const v1 = signedAttrs.filter((a) => a.type === OID.signingCertificate);
  if (v2.length === 0 && v1.length === 0) {
    throw mismatch('token has no ESS signing-certificate (v1 or v2) signed attribute');
  }
  if (v2.length > 1 || v1.length > 1) {
    throw mismatch('token has more than one ESS signing-certificate attribute of one version');
  }
  for (const [attribute, version] of [
    [v2[0], 2],
    [v1[0], 1],
  ] as const) {
    if (!attribute) continue;
    const id = parseFirstCertId(attribute, version);
    const actual = await certificateDigest(signer, id.hash);
    if (!bytesEqual(actual, id.certHash)) {
      throw mismatch(
        `ESS signing-certificate${version === 2 ? 'V2' : ''} hash (${id.hash}) is ` +
          `${toHex(id.certHash)}, but the signer certificate hashes to ${toHex(actual)}`,
      );
    }
    if (id.issuerSerial) assertIssuerSerial(id.issuerSerial, signer, version);
  }
}

function parseFirstCertId(attribute: SignedAttribute, version: 1 | 2): EssCertId {
  const name = version === 2 ? 'signingCertificateV2' : 'signingCertificate';
  const bad = (what: string) => mismatch(`ESS ${name} attribute is malformed: ${what}`);
  if (attribute.values.length !== 1) throw bad('expected exactly one attribute value');
  const value = attribute.values[0];
  // SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), policies OPTIONAL }
  if (!isUniversal(value, TAG.sequence) || !value.constructed) throw bad('not a SEQUENCE');
  const certs = childrenOf(value, name)[0];
  if (!isUniversal(certs, TAG.sequence) || !certs.constructed) {
    throw bad('certs is not a SEQUENCE');
  }
  const first = childrenOf(certs, name)[0];
  if (!isUniversal(first, TAG.sequence) || !first.constructed) throw bad('certs is empty');
  const parts = childrenOf(first, name);

  let hashOid: string = OID.sha1;
  if (version === 2) {
    // ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash, issuerSerial OPTIONAL }:
    // the default is left out of the DER (OpenSSL does), so the first element may be certHash.
    hashOid = OID.sha256;
    const head = parts[0];
    if (isUniversal(head, TAG.sequence)) {
      const oid = head.constructed ? childrenOf(head, name)[0] : undefined;
      if (!isUniversal(oid, TAG.oid)) throw bad('hashAlgorithm has no OID');
      hashOid = oidOf(oid, `ESS ${name} hashAlgorithm`, mismatch);
      parts.shift();
    }
  }
  const hash = hashName(hashOid);
  if (!hash) throw bad(`unsupported hash algorithm ${hashOid}`);
  const certHash = parts.shift();
  if (!isUniversal(certHash, TAG.octetString) || certHash.constructed) {
    throw bad('certHash is not an OCTET STRING');
  }
  const id: EssCertId = { hash, certHash: octetsOf(certHash, 'certHash', mismatch) };
  const issuerSerial = parts.shift();
  if (issuerSerial !== undefined) {
    // IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }
    const [issuer, serial] =
      isUniversal(issuerSerial, TAG.sequence) && issuerSerial.constructed
        ? childrenOf(issuerSerial, name)
        : [];
    if (
      !isUniversal(issuer, TAG.sequence) ||
      !issuer.constructed ||
      !isUniversal(serial, TAG.integer)
    ) {
      throw bad('issuerSerial is not { GeneralNames, INTEGER }');
    }
    id.issuerSerial = { issuer, serial: integerOf(serial, 'issuerSerial.serialNumber', mismatch) };
  }
  return id;
}

function assertIssuerSerial(
  issuerSerial: NonNullable<EssCertId['issuerSerial']>,
  signer: CertEntry,
  version: 1 | 2,
): void {
  const name = version === 2 ? 'signingCertificateV2' : 'signingCertificate';
  // GeneralName directoryName is [4] EXPLICIT Name, the only form an X.509 issuer can take.
  const issuerMatches = childrenOf(issuerSerial.issuer, name).some((general) => {
    if (!isContext(general, 4) || !general.constructed) return false;
    const names = new Fields(childrenOf(general, name), `ESS ${name} issuerSerial.issuer`);
    try {
      const directoryName = names.next('directoryName');
      names.end();
      return isSameName(signer.cert.issuer, directoryName, signer.issuerDer);
    } catch (error) {
      throw new TspError('ess_mismatch', `ESS ${name} issuerSerial.issuer is malformed`, {
        cause: error,
      });
    }
  });
  if (!issuerMatches) {
    throw mismatch('ESS issuerSerial.issuer does not name the signer certificate issuer');
  }
  if (integerHex(issuerSerial.serial) !== integerHex(signer.serial)) {
    throw mismatch(
      `ESS issuerSerial.serialNumber is ${integerHex(issuerSerial.serial)}, but the signer ` +
        `certificate serial is ${integerHex(signer.serial)}`,
    );
  }
}
