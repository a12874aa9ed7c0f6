import { concatBytes } from '@quittance/format';
import { CertificateChainValidationEngine } from 'pkijs';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { TspError, type TspErrorCode, verifyTimestampToken } from '../src';
import { clearVerificationCaches } from '../src/chain';
import { childrenOf, encodingOf, octetStringValue, readDer, type Tlv } from '../src/der';
import { element, rebuild } from './helpers/der-build';
import { type Issued, issueCertificate, issueToken, newKeys } from './helpers/pki';

// Verification caches parsed certificates, imported keys and successful chain validations
// across tokens. These tests build a small PKI and check that nothing cached for one token lets
// another one through: every token still runs every check against its own bytes.

const utc = (text: string) => new Date(`${text}T00:00:00Z`);
const imprint = new Uint8Array(32).fill(7);

let root: Issued;
let otherRoot: Issued;
let tsa: Issued;
let intermediate: Issued;
let tsaUnderIntermediate: Issued;
let shortRoot: Issued;
let tsaOutlivingRoot: Issued;
let tsaNonCritical: Issued;

beforeAll(async () => {
  root = await issueCertificate({
    commonName: 'Test Root',
    serial: 1,
    notBefore: utc('2020-01-01'),
    notAfter: utc('2040-01-01'),
    ca: true,
  });
  // Same subject name as the root, another key: only the signatures tell them apart.
  otherRoot = await issueCertificate({
    commonName: 'Test Root',
    serial: 1,
    notBefore: utc('2020-01-01'),
    notAfter: utc('2040-01-01'),
    ca: true,
  });
  tsa = await issueCertificate({
    commonName: 'Test TSA',
    serial: 2,
    notBefore: utc('2021-01-01'),
    notAfter: utc('2031-01-01'),
    issuer: root,
  });
  intermediate = await issueCertificate({
    commonName: 'Test Intermediate',
    serial: 3,
    notBefore: utc('2020-01-01'),
    notAfter: utc('2039-01-01'),
    issuer: root,
    ca: true,
  });
  tsaUnderIntermediate = await issueCertificate({
    commonName: 'Test TSA 2',
    serial: 4,
    notBefore: utc('2021-01-01'),
    notAfter: utc('2031-01-01'),
    issuer: intermediate,
  });
  // A root that expires long before the TSA certificate it issued.
  shortRoot = await issueCertificate({
    commonName: 'Short Root',
    serial: 5,
    notBefore: utc('2020-01-01'),
    notAfter: utc('2025-01-01'),
    ca: true,
  });
  tsaOutlivingRoot = await issueCertificate({
    commonName: 'Test TSA 3',
    serial: 6,
    notBefore: utc('2020-01-01'),
    notAfter: utc('2035-01-01'),
    issuer: shortRoot,
  });
  // The TSA's own key in a certificate whose timeStamping EKU is not critical.
  tsaNonCritical = await issueCertificate({
    commonName: 'Test TSA',
    serial: 7,
    notBefore: utc('2021-01-01'),
    notAfter: utc('2031-01-01'),
    issuer: root,
    keys: tsa.keys,
    criticalEku: false,
  });
});

let engineRuns: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  clearVerificationCaches();
  engineRuns = vi.spyOn(CertificateChainValidationEngine.prototype, 'verify');
});
afterEach(() => {
  engineRuns.mockRestore();
});

async function codeOf(promise: Promise<unknown>): Promise<TspErrorCode | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(TspError);
    return (error as TspError).code;
  }
}

const verify = (token: Uint8Array, trustAnchors: Issued[] = [root]) =>
  codeOf(verifyTimestampToken(token, { imprint, trustAnchors: trustAnchors.map((c) => c.der) }));

const token = (genTime: string, options: Partial<Parameters<typeof issueToken>[0]> = {}) =>
  issueToken({
    signer: tsa,
    imprint,
    genTime: utc(genTime),
    certificates: [tsa, root],
    ...options,
  });

describe('the verification caches', () => {
  it('validate a chain once and reuse it for a genTime inside every validity period', async () => {
    expect(await verify(await token('2024-01-01', { serial: 1 }))).toBe('ok');
    expect(await verify(await token('2025-06-01', { serial: 2 }))).toBe('ok');
    expect(await verify(await token('2030-12-31', { serial: 3 }))).toBe('ok');
    expect(engineRuns).toHaveBeenCalledTimes(1);
  });

  it('run the engine again, and fail, for a genTime outside the signer certificate', async () => {
    expect(await verify(await token('2024-01-01'))).toBe('ok');
    expect(await verify(await token('2032-01-01'))).toBe('untrusted_chain');
    expect(await verify(await token('2020-06-01'))).toBe('untrusted_chain');
    expect(engineRuns).toHaveBeenCalledTimes(3);
    // The failures left the good result alone, and were not cached either.
    expect(await verify(await token('2024-02-01'))).toBe('ok');
    expect(await verify(await token('2032-01-01'))).toBe('untrusted_chain');
    expect(engineRuns).toHaveBeenCalledTimes(4);
  });

  it('fail a genTime inside the signer certificate but after its root expired', async () => {
    const issue = (genTime: string) =>
      token(genTime, { signer: tsaOutlivingRoot, certificates: [tsaOutlivingRoot] });
    expect(await verify(await issue('2024-01-01'), [shortRoot])).toBe('ok');
    expect(await verify(await issue('2028-01-01'), [shortRoot])).toBe('untrusted_chain');
  });

  it('never reuse a chain for another anchor set', async () => {
    // With and without the root embedded: without it, only the anchors tell the chains apart.
    for (const certificates of [[tsa, root], [tsa]]) {
      clearVerificationCaches();
      const good = await token('2024-01-01', { certificates });
      expect(await verify(good)).toBe('ok');
      expect(await verify(good, [otherRoot])).toBe('untrusted_chain');
      expect(await verify(good, [])).toBe('untrusted_chain');
      expect(await verify(good, [otherRoot, root])).toBe('ok');
      expect(await verify(good)).toBe('ok');
    }
  });

  it('never reuse a chain for another set of intermediates', async () => {
    const withIntermediate = await token('2024-01-01', {
      signer: tsaUnderIntermediate,
      certificates: [tsaUnderIntermediate, intermediate],
    });
    const without = await token('2024-01-01', {
      signer: tsaUnderIntermediate,
      certificates: [tsaUnderIntermediate],
    });
    expect(await verify(withIntermediate)).toBe('ok');
    expect(await verify(without)).toBe('untrusted_chain');
  });

  it('keep the pinned-certificate time check per token', async () => {
    expect(await verify(await token('2024-01-01'), [tsa])).toBe('ok');
    expect(await verify(await token('2031-06-01'), [tsa])).toBe('untrusted_chain');
  });

  it('reject a tampered token made from the same certificates after a good one', async () => {
    const good = await token('2024-01-01');
    expect(await verify(good)).toBe('ok');

    const signature = new Uint8Array(good);
    signature[signature.length - 3] = (signature[signature.length - 3] as number) ^ 0x01;
    const forged = await token('2024-01-01', { signingKey: (await newKeys()).privateKey });
    const cases: [string, Uint8Array, TspErrorCode][] = [
      ['a flipped signature byte', signature, 'bad_signature'],
      [
        'another TSTInfo under the old signature',
        swapTstInfo(good, await token('2024-01-02')),
        'bad_signature',
      ],
      ['a signature by another key', forged, 'bad_signature'],
      [
        'another imprint',
        await token('2024-01-01', { imprint: new Uint8Array(32) }),
        'imprint_mismatch',
      ],
      [
        'ESS naming another certificate',
        await token('2024-01-01', { essCertificate: root }),
        'ess_mismatch',
      ],
      [
        'the same key in a certificate without a critical EKU',
        await token('2024-01-01', {
          signer: tsaNonCritical,
          certificates: [tsaNonCritical, root],
        }),
        'bad_eku',
      ],
    ];
    for (const [name, bytes, code] of cases) {
      expect({ name, code: await verify(bytes) }).toEqual({ name, code });
    }
    expect(await verify(good)).toBe('ok');
  });

  it('accept BER as asn1js did: indefinite lengths, segmented eContent', async () => {
    const der = await token('2024-01-01');
    const ber = toBer(der);
    expect(ber).not.toEqual(der);
    const result = await verifyTimestampToken(ber, { imprint, trustAnchors: [root.der] });
    expect(result.genTime).toEqual(utc('2024-01-01'));
    expect(result.certificates).toEqual([tsa.der, root.der]);
  });
});

/** `into` with the eContent (TSTInfo) of `from`: the signed attributes no longer match. */
function swapTstInfo(into: Uint8Array, from: Uint8Array): Uint8Array {
  const [, , encap] = signedDataFields(into);
  const [, , otherEncap] = signedDataFields(from);
  return splice(into, encap as Tlv, encodingOf(otherEncap as Tlv));
}

function signedDataFields(token: Uint8Array): Tlv[] {
  const [, content] = childrenOf(readDer(token, 'token'), 'token');
  const [signedData] = childrenOf(content as Tlv, 'content');
  return childrenOf(signedData as Tlv, 'SignedData');
}

function splice(bytes: Uint8Array, tlv: Tlv, replacement: Uint8Array): Uint8Array {
  // Re-encode lengths from the inside out: rebuild the whole token around the new element.
  return rebuild(readDer(bytes, 'token'), (t) => (t.start === tlv.start ? replacement : undefined));
}

/**
 * The token with the BER a streaming CMS encoder writes: indefinite lengths on ContentInfo,
 * SignedData, its certificate and signerInfo sets, and the eContent as a constructed OCTET
 * STRING in 40-byte segments. The certificates, signed attributes and TSTInfo keep their DER,
 * which is what is hashed and signed.
 */
function toBer(token: Uint8Array): Uint8Array {
  const indefinite = (tag: number, parts: Uint8Array[]) =>
    concatBytes([new Uint8Array([tag, 0x80]), ...parts, new Uint8Array([0, 0])]);
  const [oid] = childrenOf(readDer(token, 'token'), 'token');
  const [version, digestAlgorithms, encap, certificates, signerInfos] = signedDataFields(token);
  const [eContentType, eContent] = childrenOf(encap as Tlv, 'encap');
  const [octets] = childrenOf(eContent as Tlv, 'eContent');
  const tstInfo = octetStringValue(octets, 'eContent');
  const segments: Uint8Array[] = [];
  for (let i = 0; i < tstInfo.length; i += 40) {
    const segment = tstInfo.subarray(i, i + 40);
    segments.push(element(0x04, segment));
  }
  const signedData = indefinite(0x30, [
    encodingOf(version as Tlv),
    encodingOf(digestAlgorithms as Tlv),
    indefinite(0x30, [
      encodingOf(eContentType as Tlv),
      indefinite(0xa0, [indefinite(0x24, segments)]),
    ]),
    indefinite(0xa0, childrenOf(certificates as Tlv, 'certificates').map(encodingOf)),
    indefinite(
      0x31,
      childrenOf(signerInfos as Tlv, 'signerInfos').map((info) =>
        indefinite(0x30, childrenOf(info, 'signerInfo').map(encodingOf)),
      ),
    ),
  ]);
  return indefinite(0x30, [encodingOf(oid as Tlv), indefinite(0xa0, [signedData])]);
}
