import * as asn1js from 'asn1js';
import {
  AlgorithmIdentifier,
  Attribute,
  AttributeTypeAndValue,
  BasicConstraints,
  Certificate,
  ContentInfo,
  EncapsulatedContentInfo,
  Extension,
  ExtKeyUsage,
  IssuerAndSerialNumber,
  MessageImprint,
  SignedAndUnsignedAttributes,
  SignedData,
  SignerInfo,
  Time,
  TSTInfo,
} from 'pkijs';

/** A certificate with its key pair, as DER for the verifier and as pkijs for issuing. */
export interface Issued {
  der: Uint8Array<ArrayBuffer>;
  cert: Certificate;
  keys: CryptoKeyPair;
}

export interface CertificateOptions {
  commonName: string;
  serial: number;
  notBefore: Date;
  notAfter: Date;
  /** Signs the certificate; self-signed when omitted. */
  issuer?: Issued;
  /** A CA certificate (basicConstraints cA, keyCertSign), else a TSA one. */
  ca?: boolean;
  /** TSA only: mark the timeStamping extendedKeyUsage critical (default true). */
  criticalEku?: boolean;
  /** Reuse a key pair (default: a fresh P-256 one). */
  keys?: CryptoKeyPair;
}

const subtle = globalThis.crypto.subtle;

export function newKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

function nameOf(commonName: string) {
  return [
    new AttributeTypeAndValue({
      type: '2.5.4.3',
      value: new asn1js.Utf8String({ value: commonName }),
    }),
  ];
}

/** Issues an X.509 v3 certificate: a CA, or a TSA certificate with the RFC 3161 EKU. */
export async function issueCertificate(options: CertificateOptions): Promise<Issued> {
  const keys = options.keys ?? (await newKeys());
  const cert = new Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: options.serial });
  cert.subject.typesAndValues.push(...nameOf(options.commonName));
  if (options.issuer) cert.issuer = options.issuer.cert.subject;
  else cert.issuer.typesAndValues.push(...nameOf(options.commonName));
  cert.notBefore = new Time({ type: 0, value: options.notBefore });
  cert.notAfter = new Time({ type: 0, value: options.notAfter });
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  const keyUsage = new asn1js.BitString({
    // keyCertSign + cRLSign for a CA (bits 5, 6), digitalSignature (bit 0) for a TSA.
    valueHex: new Uint8Array([options.ca ? 0x06 : 0x80]).buffer,
    unusedBits: options.ca ? 1 : 7,
  });
  const basic = new BasicConstraints({ cA: options.ca ?? false });
  cert.extensions = [
    new Extension({
      extnID: '2.5.29.19',
      critical: true,
      extnValue: basic.toSchema().toBER(false),
      parsedValue: basic,
    }),
    new Extension({ extnID: '2.5.29.15', critical: true, extnValue: keyUsage.toBER(false) }),
  ];
  if (!options.ca) {
    const eku = new ExtKeyUsage({ keyPurposes: ['1.3.6.1.5.5.7.3.8'] });
    cert.extensions.push(
      new Extension({
        extnID: '2.5.29.37',
        critical: options.criticalEku ?? true,
        extnValue: eku.toSchema().toBER(false),
        parsedValue: eku,
      }),
    );
  }
  await cert.sign((options.issuer?.keys ?? keys).privateKey, 'SHA-256');
  const der = new Uint8Array(cert.toSchema(true).toBER(false));
  return { der, cert: Certificate.fromBER(der), keys };
}

export interface TokenOptions {
  /** The key and certificate that sign (and that the SignerInfo names). */
  signer: Issued;
  imprint: Uint8Array;
  genTime: Date;
  serial?: number;
  nonce?: bigint;
  /** Embedded certificates, default [signer]. */
  certificates?: Issued[];
  /** The certificate the ESS signingCertificateV2 attribute hashes, default the signer. */
  essCertificate?: Issued;
  /** Sign with this key instead of the signer certificate's. */
  signingKey?: CryptoKey;
  /** Name the signer by subjectKeyIdentifier (these bytes) instead of issuer and serial. */
  keyId?: Uint8Array;
}

/** Builds a TimeStampToken (ContentInfo DER) as an RFC 3161 TSA would. */
export async function issueToken(options: TokenOptions): Promise<Uint8Array<ArrayBuffer>> {
  const tstInfo = new TSTInfo({
    version: 1,
    policy: '1.3.6.1.4.1.99999.1',
    messageImprint: new MessageImprint({
      hashAlgorithm: new AlgorithmIdentifier({ algorithmId: '2.16.840.1.101.3.4.2.1' }),
      hashedMessage: new asn1js.OctetString({ valueHex: options.imprint.slice() }),
    }),
    serialNumber: new asn1js.Integer({ value: options.serial ?? 1 }),
    genTime: options.genTime,
    ...(options.nonce === undefined ? {} : { nonce: asn1js.Integer.fromBigInt(options.nonce) }),
  });
  const tstInfoDer = tstInfo.toSchema().toBER(false);
  const essCert = options.essCertificate ?? options.signer;
  const certHash = await subtle.digest('SHA-256', essCert.der);
  const attributes = [
    new Attribute({
      type: '1.2.840.113549.1.9.3',
      values: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.16.1.4' })],
    }),
    new Attribute({
      type: '1.2.840.113549.1.9.4',
      values: [new asn1js.OctetString({ valueHex: await subtle.digest('SHA-256', tstInfoDer) })],
    }),
    new Attribute({
      type: '1.2.840.113549.1.9.16.2.47',
      values: [
        new asn1js.Sequence({
          value: [
            new asn1js.Sequence({
              value: [
                new asn1js.Sequence({ value: [new asn1js.OctetString({ valueHex: certHash })] }),
              ],
            }),
          ],
        }),
      ],
    }),
  ];
  const { cert } = options.signer;
  const signed = new SignedData({
    version: 3,
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: '1.2.840.113549.1.9.16.1.4',
      eContent: new asn1js.OctetString({ valueHex: tstInfoDer }),
    }),
    signerInfos: [
      new SignerInfo({
        version: 1,
        sid: options.keyId
          ? new asn1js.Primitive({
              idBlock: { tagClass: 3, tagNumber: 0 },
              valueHex: options.keyId.slice(),
            })
          : new IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
        signedAttrs: new SignedAndUnsignedAttributes({ type: 0, attributes }),
      }),
    ],
    certificates: (options.certificates ?? [options.signer]).map((c) => c.cert),
  });
  await signed.sign(options.signingKey ?? options.signer.keys.privateKey, 0, 'SHA-256');
  const token = new ContentInfo({
    contentType: '1.2.840.113549.1.7.2',
    content: signed.toSchema(true),
  });
  return new Uint8Array(token.toSchema().toBER(false));
}
