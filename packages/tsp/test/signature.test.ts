import { beforeAll, describe, expect, it } from 'vitest';
import { TspError, verifyTimestampToken } from '../src';
import { type Issued, issueCertificate, issueToken } from './helpers/pki';

// The CMS signature is verified with WebCrypto directly (keys imported once per certificate),
// and by pkijs for the algorithms that take parameters: each family must keep verifying, and
// keep failing when tampered with.

const utc = (text: string) => new Date(`${text}T00:00:00Z`);
const imprint = new Uint8Array(32).fill(9);
const rsa = { modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
const ALGORITHMS: [string, RsaHashedKeyGenParams | EcKeyGenParams][] = [
  ['ECDSA P-256', { name: 'ECDSA', namedCurve: 'P-256' }],
  ['ECDSA P-384', { name: 'ECDSA', namedCurve: 'P-384' }],
  ['ECDSA P-521', { name: 'ECDSA', namedCurve: 'P-521' }],
  ['RSASSA-PKCS1-v1_5', { name: 'RSASSA-PKCS1-v1_5', ...rsa }],
  ['RSASSA-PSS', { name: 'RSA-PSS', ...rsa }],
];

let root: Issued;
beforeAll(async () => {
  root = await issueCertificate({
    commonName: 'Signature Root',
    serial: 1,
    notBefore: utc('2020-01-01'),
    notAfter: utc('2040-01-01'),
    ca: true,
  });
});

async function tsaWith(algorithm: RsaHashedKeyGenParams | EcKeyGenParams): Promise<Issued> {
  const keys = (await globalThis.crypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  return issueCertificate({
    commonName: `TSA ${algorithm.name}`,
    serial: 2,
    notBefore: utc('2021-01-01'),
    notAfter: utc('2031-01-01'),
    issuer: root,
    keys,
  });
}

const verify = (token: Uint8Array) =>
  verifyTimestampToken(token, { imprint, trustAnchors: [root.der] });

function flipLastSignatureByte(token: Uint8Array): Uint8Array {
  const out = new Uint8Array(token);
  out[out.length - 2] = (out[out.length - 2] as number) ^ 0x01;
  return out;
}

describe('CMS signature algorithms', () => {
  it.each(ALGORITHMS)('%s verifies, and fails once tampered with', async (_name, algorithm) => {
    const tsa = await tsaWith(algorithm);
    const token = await issueToken({
      signer: tsa,
      imprint,
      genTime: utc('2024-01-01'),
      certificates: [tsa],
    });
    expect((await verify(token)).tsa).toBe(`CN=TSA ${algorithm.name}`);
    const error = await verify(flipLastSignatureByte(token)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TspError);
    expect((error as TspError).code).toBe('bad_signature');
  });

  it('takes the hash from the digest algorithm for plain rsaEncryption', async () => {
    const tsa = await tsaWith({ name: 'RSASSA-PKCS1-v1_5', ...rsa });
    const token = await issueToken({ signer: tsa, imprint, genTime: utc('2024-01-01') });
    // sha256WithRSAEncryption -> rsaEncryption: the SignerInfo algorithm is not signed.
    const hex = Buffer.from(token).toString('hex');
    const at = hex.lastIndexOf('2a864886f70d01010b');
    const plain = Buffer.from(`${hex.slice(0, at)}2a864886f70d010101${hex.slice(at + 18)}`, 'hex');
    expect((await verify(new Uint8Array(plain))).tsa).toBe('CN=TSA RSASSA-PKCS1-v1_5');
  });

  it('finds the signer by subjectKeyIdentifier: SHA-1 of the key, no SKI extension', async () => {
    const tsa = await tsaWith({ name: 'ECDSA', namedCurve: 'P-256' });
    const key = tsa.cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView.slice();
    const keyId = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-1', key));
    const issue = (id: Uint8Array) =>
      issueToken({ signer: tsa, imprint, genTime: utc('2024-01-01'), keyId: id });
    expect((await verify(await issue(keyId))).tsa).toBe('CN=TSA ECDSA');
    const error = await verify(await issue(keyId.map((b) => b ^ 1))).catch((e: unknown) => e);
    expect((error as TspError).code).toBe('bad_signature');
  });
});
