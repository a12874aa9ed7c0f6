import * as asn1js from 'asn1js';
import { type Attribute, type Certificate, GeneralNames } from 'pkijs';
import { bytesEqual, digest, hashName, integerHex, OID, toHex } from './bytes';
import { TspError } from './errors';

/** The parts of an ESSCertID / ESSCertIDv2 that identify a certificate. */
interface EssCertId {
  /** WebCrypto digest name. */
  hash: string;
  hashOid: string;
  certHash: Uint8Array;
  issuerSerial?: { issuer: GeneralNames; serial: asn1js.Integer };
}

const mismatch = (message: string) => new TspError('ess_mismatch', message);

/**
 * Checks the ESS signing-certificate attribute (RFC 2634 / RFC 5035, required by RFC 3161 and
 * RFC 5816) binds the signature to `signer`: the first ESSCertID's hash is the hash of the
 * signer certificate's DER and its issuerSerial, when present, names the same certificate.
 * This stops a signer certificate being swapped for another with the same key.
 */
export async function assertSigningCertificate(
  signedAttrs: readonly Attribute[],
  signer: { der: Uint8Array; cert: Certificate },
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
    const actual = await digest(id.hash, signer.der);
    if (!bytesEqual(actual, id.certHash)) {
      throw mismatch(
        `ESS signing-certificate${version === 2 ? 'V2' : ''} hash (${id.hash}) is ` +
          `${toHex(id.certHash)}, but the signer certificate hashes to ${toHex(actual)}`,
      );
    }
    if (id.issuerSerial) assertIssuerSerial(id.issuerSerial, signer.cert);
  }
}

function parseFirstCertId(attribute: Attribute, version: 1 | 2): EssCertId {
  const name = version === 2 ? 'signingCertificateV2' : 'signingCertificate';
  const bad = (what: string) => mismatch(`ESS ${name} attribute is malformed: ${what}`);
  if (attribute.values.length !== 1) throw bad('expected exactly one attribute value');
  const value = attribute.values[0] as asn1js.AsnType;
  // SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), policies OPTIONAL }
  if (!(value instanceof asn1js.Sequence)) throw bad('not a SEQUENCE');
  const certs = value.valueBlock.value[0];
  if (!(certs instanceof asn1js.Sequence)) throw bad('certs is not a SEQUENCE');
  const first = certs.valueBlock.value[0];
  if (!(first instanceof asn1js.Sequence)) throw bad('certs is empty');
  const parts = [...first.valueBlock.value];

  let hashOid: string = OID.sha1;
  if (version === 2) {
    // ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash, issuerSerial OPTIONAL }:
    // the default is left out of the DER (OpenSSL does), so the first element may be certHash.
    hashOid = OID.sha256;
    const head = parts[0];
    if (head instanceof asn1js.Sequence) {
      const oid = head.valueBlock.value[0];
      if (!(oid instanceof asn1js.ObjectIdentifier)) throw bad('hashAlgorithm has no OID');
      hashOid = oid.getValue();
      parts.shift();
    }
  }
  const hash = hashName(hashOid);
  if (!hash) throw bad(`unsupported hash algorithm ${hashOid}`);
  const certHash = parts.shift();
  if (!(certHash instanceof asn1js.OctetString)) throw bad('certHash is not an OCTET STRING');

  const id: EssCertId = {
    hash,
    hashOid,
    certHash: new Uint8Array(certHash.valueBlock.valueHexView),
  };
  const issuerSerial = parts.shift();
  if (issuerSerial !== undefined) {
    // IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }
    const [issuer, serial] =
      issuerSerial instanceof asn1js.Sequence ? issuerSerial.valueBlock.value : [];
    if (!(issuer instanceof asn1js.Sequence) || !(serial instanceof asn1js.Integer)) {
      throw bad('issuerSerial is not { GeneralNames, INTEGER }');
    }
    let names: GeneralNames;
    try {
      names = new GeneralNames({ schema: issuer });
    } catch (error) {
      throw new TspError('ess_mismatch', `ESS ${name} issuerSerial.issuer is malformed`, {
        cause: error,
      });
    }
    id.issuerSerial = { issuer: names, serial };
  }
  return id;
}

function assertIssuerSerial(
  issuerSerial: NonNullable<EssCertId['issuerSerial']>,
  cert: Certificate,
): void {
  // GeneralName type 4 is directoryName, the only form an X.509 issuer can take.
  const issuerMatches = issuerSerial.issuer.names.some(
    (name) => name.type === 4 && cert.issuer.isEqual(name.value),
  );
  if (!issuerMatches) {
    throw mismatch('ESS issuerSerial.issuer does not name the signer certificate issuer');
  }
  if (integerHex(issuerSerial.serial) !== integerHex(cert.serialNumber)) {
    throw mismatch(
      `ESS issuerSerial.serialNumber is ${integerHex(issuerSerial.serial)}, but the signer ` +
        `certificate serial is ${integerHex(cert.serialNumber)}`,
    );
  }
}
