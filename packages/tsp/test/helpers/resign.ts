import * as asn1js from 'asn1js';
import {
  Attribute,
  Certificate,
  ContentInfo,
  EncapsulatedContentInfo,
  GeneralName,
  GeneralNames,
  IssuerAndSerialNumber,
  SignedAndUnsignedAttributes,
  SignedData,
  SignerInfo,
} from 'pkijs';

export interface ResignOptions {
  /** PKCS#8 PEM of an EC P-256 key. */
  keyPem: string;
  certDer: Uint8Array<ArrayBuffer>;
  extraCerts?: Uint8Array<ArrayBuffer>[];
  /** Which ESS attribute to add; 'none' leaves it out. Default v2. */
  ess?: 'v1' | 'v2' | 'none';
  /** Overrides the ESS certHash (default: the right hash of certDer). */
  essCertHash?: Uint8Array<ArrayBuffer>;
  /** Adds an issuerSerial to the ESSCertID; `serialDelta` makes it name another certificate. */
  issuerSerial?: { serialDelta?: number };
  contentType?: string;
}

function pemBody(pem: string): Uint8Array<ArrayBuffer> {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(body, 'base64'));
}

/**
 * Re-signs the TSTInfo of a token with chosen signed attributes, to build the defects OpenSSL
 * will not produce (wrong or missing ESS attribute, wrong content-type).
 */
export async function resignToken(
  tokenDer: Uint8Array<ArrayBuffer>,
  options: ResignOptions,
): Promise<Uint8Array> {
  const original = new SignedData({ schema: ContentInfo.fromBER(tokenDer).content });
  const tstInfo = original.encapContentInfo.eContent?.getValue();
  if (!tstInfo) throw new Error('token has no TSTInfo');
  const cert = Certificate.fromBER(options.certDer);
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.importKey(
    'pkcs8',
    pemBody(options.keyPem),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const ess = options.ess ?? 'v2';
  const certHash =
    options.essCertHash ??
    new Uint8Array(await subtle.digest(ess === 'v1' ? 'SHA-1' : 'SHA-256', options.certDer));
  const certId: asn1js.AsnType[] = [new asn1js.OctetString({ valueHex: certHash })];
  if (options.issuerSerial) {
    const serial = cert.serialNumber.toBigInt();
    certId.push(
      new asn1js.Sequence({
        value: [
          new GeneralNames({
            names: [new GeneralName({ type: 4, value: cert.issuer })],
          }).toSchema(),
          asn1js.Integer.fromBigInt(serial + BigInt(options.issuerSerial.serialDelta ?? 0)),
        ],
      }),
    );
  }
  const attributes = [
    new Attribute({
      type: '1.2.840.113549.1.9.3',
      values: [
        new asn1js.ObjectIdentifier({ value: options.contentType ?? '1.2.840.113549.1.9.16.1.4' }),
      ],
    }),
    new Attribute({
      type: '1.2.840.113549.1.9.4',
      values: [new asn1js.OctetString({ valueHex: await subtle.digest('SHA-256', tstInfo) })],
    }),
  ];
  if (ess !== 'none') {
    attributes.push(
      new Attribute({
        type: ess === 'v1' ? '1.2.840.113549.1.9.16.2.12' : '1.2.840.113549.1.9.16.2.47',
        values: [
          new asn1js.Sequence({
            value: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: certId })] })],
          }),
        ],
      }),
    );
  }
  const signed = new SignedData({
    version: 3,
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: '1.2.840.113549.1.9.16.1.4',
      eContent: new asn1js.OctetString({ valueHex: tstInfo }),
    }),
    signerInfos: [
      new SignerInfo({
        version: 1,
        sid: new IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
        signedAttrs: new SignedAndUnsignedAttributes({ type: 0, attributes }),
      }),
    ],
    certificates: [cert, ...(options.extraCerts ?? []).map((der) => Certificate.fromBER(der))],
  });
  await signed.sign(key, 0, 'SHA-256');
  const token = new ContentInfo({
    contentType: '1.2.840.113549.1.7.2',
    content: signed.toSchema(true),
  });
  return new Uint8Array(token.toSchema().toBER());
}
