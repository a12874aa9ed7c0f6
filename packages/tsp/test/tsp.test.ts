import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import {
  AttributeTypeAndValue,
  PKIStatusInfo,
  RelativeDistinguishedNames,
  TimeStampReq,
  TimeStampResp,
} from 'pkijs';
import { describe, expect, it } from 'vitest';
import {
  createTimestampRequest,
  parsePemCertificates,
  TspError,
  toPem,
  verifyTimestampResponse,
  verifyTimestampToken,
} from '../src';
import { formatName } from '../src/names';
import { rejection } from './helpers/rejection';

// A real reply of the OpenSSL test TSA (test/tooling tsa-server.ts, 'ok' mode), generated once
// and committed: it must keep verifying offline with nothing but its CA.
const fixtures = join(import.meta.dirname, 'fixtures');
const response = new Uint8Array(readFileSync(join(fixtures, 'openssl-tsa-response.tsr')));
const anchors = parsePemCertificates(readFileSync(join(fixtures, 'openssl-tsa-ca.pem'), 'utf8'));
const imprint = new Uint8Array(
  Buffer.from(readFileSync(join(fixtures, 'openssl-tsa-imprint.hex'), 'utf8').trim(), 'hex'),
);
const expected = JSON.parse(readFileSync(join(fixtures, 'openssl-tsa-expected.json'), 'utf8')) as {
  signatureSegment: string;
  nonce: string;
  genTime: string;
  tsa: string;
  policy: string;
  serialNumber: string;
};
const nonce = BigInt(`0x${expected.nonce}`);
const genTime = new Date(expected.genTime);
const farFuture = new Date('2100-01-01T00:00:00Z');

function encodeResponse(status: PKIStatusInfo): Uint8Array {
  return new Uint8Array(new TimeStampResp({ status }).toSchema().toBER());
}

describe('the committed OpenSSL token', () => {
  it('has the imprint Quittance computes: SHA-256 of the ASCII signature segment', () => {
    const digest = createHash('sha256').update(expected.signatureSegment, 'ascii').digest();
    expect(new Uint8Array(digest)).toEqual(imprint);
  });

  it('verifies as a response and, offline, as a stored token', async () => {
    const fromResponse = await verifyTimestampResponse(response, {
      imprint,
      nonce,
      trustAnchors: anchors,
    });
    const stored = await verifyTimestampToken(fromResponse.token, {
      imprint,
      trustAnchors: anchors,
      notBefore: new Date(genTime.getTime() - 5 * 60_000),
      notAfter: farFuture,
    });
    for (const result of [fromResponse, stored]) {
      expect(result).toMatchObject({
        genTime,
        tsa: expected.tsa,
        policy: expected.policy,
        serialNumber: expected.serialNumber,
      });
      expect(result.certificates).toHaveLength(2);
    }
    expect(stored.token).toEqual(fromResponse.token);
    // The token is the ContentInfo inside the response, byte for byte.
    expect(Buffer.from(response).indexOf(Buffer.from(stored.token))).toBeGreaterThan(0);
  });

  it('accepts the TSA certificate itself as a pinned anchor', async () => {
    const { certificates, token } = await verifyTimestampResponse(response, {
      imprint,
      nonce,
      trustAnchors: anchors,
    });
    const tsaCert = certificates.find((der) => !anchors.some((a) => Buffer.from(a).equals(der)));
    const result = await verifyTimestampToken(token, {
      imprint,
      trustAnchors: [tsaCert as Uint8Array],
    });
    expect(result.tsa).toBe(expected.tsa);
  });

  it('rejects another nonce, imprint or window', async () => {
    const cases = [
      verifyTimestampResponse(response, { imprint, nonce: nonce + 1n, trustAnchors: anchors }),
      verifyTimestampResponse(response, {
        imprint: new Uint8Array(32),
        nonce,
        trustAnchors: anchors,
      }),
      verifyTimestampResponse(response, {
        imprint,
        nonce,
        trustAnchors: anchors,
        notBefore: new Date(genTime.getTime() + 1),
      }),
    ];
    const codes = (await Promise.all(cases.map(rejection))).map((e) => e.code);
    expect(codes).toEqual(['nonce_mismatch', 'imprint_mismatch', 'gentime_out_of_window']);
  });

  it('rejects a flipped signature byte and trailing or truncated input', async () => {
    const flipped = new Uint8Array(response);
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] as number) ^ 0x01;
    const signature = await rejection(
      verifyTimestampResponse(flipped, { imprint, nonce, trustAnchors: anchors }),
    );
    expect(signature.code).toBe('bad_signature');

    for (const bytes of [
      new Uint8Array([...response, 0]),
      response.subarray(0, response.length - 1),
      new Uint8Array([1, 2, 3]),
    ]) {
      const error = await rejection(
        verifyTimestampResponse(bytes, { imprint, nonce, trustAnchors: anchors }),
      );
      expect(error.code).toBe('malformed');
    }
    const badAnchor = await rejection(
      verifyTimestampResponse(response, { imprint, nonce, trustAnchors: [new Uint8Array(4)] }),
    );
    expect(badAnchor.code).toBe('malformed');
  });
});

describe('verifyTimestampResponse status', () => {
  it.each([
    ['rejection, badRequest', 2, [0x20], 5, false],
    ['rejection, systemFailure', 2, [0, 0, 0, 0x40], 6, true],
    ['waiting', 3, undefined, 0, true],
  ] as const)('reports %s as not_granted', async (_name, status, bits, unused, retryable) => {
    const der = encodeResponse(
      new PKIStatusInfo({
        status,
        ...(bits
          ? {
              failInfo: new asn1js.BitString({
                unusedBits: unused,
                valueHex: new Uint8Array(bits),
              }),
            }
          : {}),
      }),
    );
    const error = await rejection(
      verifyTimestampResponse(der, { imprint, nonce, trustAnchors: anchors }),
    );
    expect(error.code).toBe('not_granted');
    expect(error.retryable).toBe(retryable);
  });

  it('calls a granted response without a token malformed', async () => {
    const error = await rejection(
      verifyTimestampResponse(encodeResponse(new PKIStatusInfo({ status: 0 })), {
        imprint,
        nonce,
        trustAnchors: anchors,
      }),
    );
    expect(error.code).toBe('malformed');
  });
});

describe('createTimestampRequest', () => {
  it('builds a SHA-256 TimeStampReq with a random positive nonce and certReq', () => {
    const a = createTimestampRequest(imprint);
    const b = createTimestampRequest(imprint);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.nonce > 0n && a.nonce < 1n << 64n).toBe(true);
    const parsed = TimeStampReq.fromBER(a.der as Uint8Array<ArrayBuffer>);
    expect(parsed.version).toBe(1);
    expect(parsed.certReq).toBe(true);
    expect(parsed.reqPolicy).toBeUndefined();
    expect(parsed.messageImprint.hashAlgorithm.algorithmId).toBe('2.16.840.1.101.3.4.2.1');
    expect(new Uint8Array(parsed.messageImprint.hashedMessage.valueBlock.valueHexView)).toEqual(
      imprint,
    );
    expect(parsed.nonce?.toBigInt()).toBe(a.nonce);
  });

  it('encodes a nonce with the top bit set as a positive INTEGER, and the options', () => {
    const nonce = (1n << 63n) + 5n;
    const request = createTimestampRequest(imprint, {
      nonce,
      certReq: false,
      policy: '1.3.6.1.4.1.99999.1',
    });
    const parsed = TimeStampReq.fromBER(request.der as Uint8Array<ArrayBuffer>);
    expect(parsed.nonce?.valueBlock.valueHexView[0]).toBe(0);
    expect(parsed.nonce?.toBigInt()).toBe(nonce);
    // DEFAULT FALSE is left out of the DER.
    expect(parsed.certReq ?? false).toBe(false);
    expect(parsed.reqPolicy).toBe('1.3.6.1.4.1.99999.1');
  });

  it('rejects an imprint that is not 32 bytes and a non-positive nonce', () => {
    expect(() => createTimestampRequest(new Uint8Array(20))).toThrow(TspError);
    expect(() => createTimestampRequest(imprint, { nonce: 0n })).toThrow(TspError);
    expect(() => createTimestampRequest(imprint, { nonce: -1n })).toThrow(TspError);
  });
});

// An RFC 8419 token (Ed25519 signer, SHA-512 message digest, ESS signingCertificateV2) made by
// Bouncy Castle, with no Quittance code (test/fixtures/external-tsa-ed25519/make.sh): OpenSSL
// 3.0 can neither make nor check one, so an operator's Ed25519 TSA is tested against it.
describe('a token signed with Ed25519 by another implementation', () => {
  const dir = join(import.meta.dirname, '../../../test/fixtures/external-tsa-ed25519');
  const edResponse = new Uint8Array(readFileSync(join(dir, 'response.tsr')));
  const edAnchors = parsePemCertificates(readFileSync(join(dir, 'tsa-ca.pem'), 'utf8'));
  const ed = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as typeof expected;
  const edImprint = new Uint8Array(
    createHash('sha256').update(ed.signatureSegment, 'ascii').digest(),
  );
  const edNonce = BigInt(`0x${ed.nonce}`);
  const verify = (der: Uint8Array, trustAnchors = edAnchors) =>
    verifyTimestampResponse(der, { imprint: edImprint, nonce: edNonce, trustAnchors });

  it('verifies as a response and as a stored token', async () => {
    const result = await verify(edResponse);
    expect(result).toMatchObject({
      genTime: new Date(ed.genTime),
      tsa: ed.tsa,
      policy: ed.policy,
    });
    expect(BigInt(`0x${result.serialNumber}`)).toBe(BigInt(`0x${ed.serialNumber}`));
    const stored = await verifyTimestampToken(result.token, {
      imprint: edImprint,
      trustAnchors: edAnchors,
    });
    expect(stored.tsa).toBe(ed.tsa);
  });

  it('rejects a changed signature, a changed TSTInfo and another anchor', async () => {
    const flipped = (at: number) => {
      const copy = edResponse.slice();
      copy[at] = (copy[at] as number) ^ 1;
      return copy;
    };
    // The signature is the response's last 64 bytes; genTime's digits sit in the TSTInfo.
    const genTimeAt = Buffer.from(edResponse).indexOf('20261120101630Z');
    expect(genTimeAt).toBeGreaterThan(0);
    const codes = (
      await Promise.all(
        [
          verify(flipped(edResponse.length - 1)),
          verify(flipped(genTimeAt + 13)),
          verify(edResponse, anchors),
        ].map(rejection),
      )
    ).map((e) => e.code);
    expect(codes).toEqual(['bad_signature', 'bad_signature', 'untrusted_chain']);
  });
});

describe('PEM', () => {
  it('round-trips certificates and skips other blocks', () => {
    const [ca] = anchors as [Uint8Array];
    const pem = toPem(ca);
    expect(pem).toMatch(
      /^-----BEGIN CERTIFICATE-----\n(.{64}\n)+.{1,64}\n-----END CERTIFICATE-----\n$/,
    );
    const text = `junk\n${toPem(new Uint8Array([1, 2, 3]), 'PRIVATE KEY')}${pem}\n${pem}`;
    expect(parsePemCertificates(text)).toEqual([ca, ca]);
    expect(parsePemCertificates('')).toEqual([]);
  });

  it('rejects a certificate block that is not base64', () => {
    const bad = '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n';
    expect(() => parsePemCertificates(bad)).toThrow(TspError);
  });
});

describe('formatName', () => {
  const atv = (type: string, value: asn1js.AsnType) =>
    new AttributeTypeAndValue({ type, value: value as asn1js.Utf8String }).toSchema();
  const nameOf = (...rdns: asn1js.AsnType[][]) =>
    RelativeDistinguishedNames.fromBER(
      new asn1js.Sequence({ value: rdns.map((value) => new asn1js.Set({ value })) }).toBER(),
    );

  it('writes RFC 4514: last RDN first, special characters escaped, unknown types as hex', () => {
    const name = nameOf(
      [atv('2.5.4.6', new asn1js.PrintableString({ value: 'DE' }))],
      [atv('2.5.4.10', new asn1js.Utf8String({ value: 'Acme, Inc. <EU>' }))],
      [
        atv('2.5.4.11', new asn1js.Utf8String({ value: 'TSA' })),
        atv('1.2.3.4', new asn1js.Utf8String({ value: 'x' })),
      ],
      [atv('2.5.4.3', new asn1js.Utf8String({ value: ' #TSA ' }))],
    );
    expect(formatName(name)).toBe(
      'CN=\\ #TSA\\ ,OU=TSA+1.2.3.4=#0c0178,O=Acme\\, Inc. \\<EU\\>,C=DE',
    );
  });
});
