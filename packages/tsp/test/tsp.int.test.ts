import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTsaServer, type TsaMode, type TsaTestServer } from '@quittance/test-tooling';
import { ContentInfo, SignedData, TSTInfo } from 'pkijs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createTimestampRequest,
  parsePemCertificates,
  requestTimestamp,
  type TimestampRequest,
  type TspErrorCode,
  verifyTimestampResponse,
  verifyTimestampToken,
} from '../src';
import { rejection } from './helpers/rejection';
import { resignToken } from './helpers/resign';

let tsa: TsaTestServer;
let anchors: Uint8Array[];
let work: string;

beforeAll(async () => {
  [tsa, work] = await Promise.all([startTsaServer(), mkdtemp(join(tmpdir(), 'quittance-tsp-'))]);
  anchors = parsePemCertificates(tsa.trustPem);
});
afterAll(async () => {
  await Promise.all([tsa?.close(), rm(work, { recursive: true, force: true })]);
});
beforeEach(() => {
  tsa.setMode('ok');
});

/** What Quittance time-stamps: SHA-256 of the ASCII base64url signature segment of a JWS. */
function imprintOf(text: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(text, 'ascii').digest());
}

async function timestamp(url: string, text = `sig-${Math.random()}`) {
  const imprint = imprintOf(text);
  const request = createTimestampRequest(imprint);
  const response = await requestTimestamp(url, request);
  return { imprint, request, response };
}

function opensslVerify(dir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', ['ts', '-verify', ...args], { cwd: dir }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/** Writes the reply and query where OpenSSL can read them, then runs `openssl ts -verify`. */
async function assertOpensslAccepts(
  server: TsaTestServer,
  request: TimestampRequest,
  response: Uint8Array,
): Promise<void> {
  const name = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const query = join(work, `${name}.tsq`);
  const reply = join(work, `${name}.tsr`);
  await Promise.all([writeFile(query, request.der), writeFile(reply, response)]);
  const out = await opensslVerify(work, [
    '-in',
    reply,
    '-queryfile',
    query,
    '-CAfile',
    server.trustPemPath,
  ]);
  expect(out).toContain('Verification: OK');
}

function signedAttributeTypes(token: Uint8Array<ArrayBuffer>): string[] {
  const signed = new SignedData({ schema: ContentInfo.fromBER(token).content });
  return signed.signerInfos[0]?.signedAttrs?.attributes.map((a) => a.type) ?? [];
}

describe('RFC 3161 against an OpenSSL TSA', () => {
  it('requests and verifies a token that OpenSSL also accepts', async () => {
    const createdAt = new Date();
    const { imprint, request, response } = await timestamp(tsa.url);
    const result = await verifyTimestampResponse(response, {
      imprint,
      nonce: request.nonce,
      trustAnchors: anchors,
      notBefore: new Date(createdAt.getTime() - 5 * 60_000),
      notAfter: new Date(Date.now() + 60_000),
    });
    expect(result.tsa).toBe('CN=Quittance Test TSA,O=Quittance Test');
    expect(result.policy).toBe('1.3.6.1.4.1.99999.1');
    expect(result.serialNumber).toMatch(/^[0-9a-f]+$/);
    expect(Math.abs(result.genTime.getTime() - createdAt.getTime())).toBeLessThan(5_000);
    // certReq: the TSA certificate and the CA from the `certs` setting.
    expect(result.certificates).toHaveLength(2);
    expect(signedAttributeTypes(result.token as Uint8Array<ArrayBuffer>)).toContain(
      '1.2.840.113549.1.9.16.2.47',
    );
    await assertOpensslAccepts(tsa, request, response);
  });

  it('verifies ESS signing-certificate v1 (SHA-1) tokens too', async () => {
    const sha1 = await startTsaServer({ essCertIdAlg: 'sha1' });
    try {
      const { imprint, request, response } = await timestamp(sha1.url);
      const result = await verifyTimestampResponse(response, {
        imprint,
        nonce: request.nonce,
        trustAnchors: parsePemCertificates(sha1.trustPem),
      });
      const types = signedAttributeTypes(result.token as Uint8Array<ArrayBuffer>);
      expect(types).toContain('1.2.840.113549.1.9.16.2.12');
      expect(types).not.toContain('1.2.840.113549.1.9.16.2.47');
      await assertOpensslAccepts(sha1, request, response);
      // Another TSA's CA is not an anchor for this one.
      const error = await rejection(
        verifyTimestampToken(result.token, { imprint, trustAnchors: anchors }),
      );
      expect(error.code).toBe('untrusted_chain');
    } finally {
      await sha1.close();
    }
  });

  // pkijs verifies no Ed25519 signature: a TSA certificate issued by an Ed25519 CA failed
  // chain validation ("No valid certificate paths found") though OpenSSL accepts it (an
  // operator's TSA, found by an outside check).
  it('verifies a TSA whose root CA signs with Ed25519 (RFC 8410), as OpenSSL does', async () => {
    const edRoot = await startTsaServer({ rootKey: 'ed25519' });
    try {
      const { imprint, request, response } = await timestamp(edRoot.url);
      await assertOpensslAccepts(edRoot, request, response);
      const result = await verifyTimestampResponse(response, {
        imprint,
        nonce: request.nonce,
        trustAnchors: parsePemCertificates(edRoot.trustPem),
      });
      expect(result.tsa).toBe('CN=Quittance Test TSA,O=Quittance Test');
      // Another CA's signature still does not chain.
      const error = await rejection(
        verifyTimestampToken(result.token, { imprint, trustAnchors: anchors }),
      );
      expect(error.code).toBe('untrusted_chain');
    } finally {
      await edRoot.close();
    }
  });

  it('answers concurrent requests with distinct serial numbers', async () => {
    const before = tsa.requests;
    const results = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const { imprint, request, response } = await timestamp(tsa.url);
        return verifyTimestampResponse(response, {
          imprint,
          nonce: request.nonce,
          trustAnchors: anchors,
        });
      }),
    );
    expect(new Set(results.map((r) => r.serialNumber)).size).toBe(6);
    expect(tsa.requests - before).toBe(6);
  });
});

describe('verifyTimestampToken on a stored token', () => {
  let stored: { token: Uint8Array; genTime: Date; imprint: Uint8Array };

  beforeAll(async () => {
    const { imprint, request, response } = await timestamp(tsa.url);
    const result = await verifyTimestampResponse(response, {
      imprint,
      nonce: request.nonce,
      trustAnchors: anchors,
    });
    stored = { token: result.token, genTime: result.genTime, imprint };
  });

  it('verifies offline with the anchors', async () => {
    const result = await verifyTimestampToken(stored.token, {
      imprint: stored.imprint,
      trustAnchors: anchors,
      notBefore: new Date(stored.genTime.getTime() - 1),
      notAfter: stored.genTime,
    });
    expect(result.genTime).toEqual(stored.genTime);
    expect(result.token).toEqual(stored.token);
  });

  it('rejects another imprint', async () => {
    const error = await rejection(
      verifyTimestampToken(stored.token, { imprint: imprintOf('other'), trustAnchors: anchors }),
    );
    expect(error.code).toBe('imprint_mismatch');
    expect(error.retryable).toBe(false);
  });

  it('rejects an anchor the signer does not chain to', async () => {
    const otherCa = parsePemCertificates(tsa.otherCaPem);
    const error = await rejection(
      verifyTimestampToken(stored.token, { imprint: stored.imprint, trustAnchors: otherCa }),
    );
    expect(error.code).toBe('untrusted_chain');
    const none = await rejection(
      verifyTimestampToken(stored.token, { imprint: stored.imprint, trustAnchors: [] }),
    );
    expect(none.code).toBe('untrusted_chain');
  });

  it('rejects a genTime outside the window', async () => {
    const early = await rejection(
      verifyTimestampToken(stored.token, {
        imprint: stored.imprint,
        trustAnchors: anchors,
        notBefore: new Date(stored.genTime.getTime() + 1_000),
      }),
    );
    expect(early.code).toBe('gentime_out_of_window');
    const late = await rejection(
      verifyTimestampToken(stored.token, {
        imprint: stored.imprint,
        trustAnchors: anchors,
        notAfter: new Date(stored.genTime.getTime() - 1_000),
      }),
    );
    expect(late.code).toBe('gentime_out_of_window');
  });

  it('accepts the TSA certificate itself pinned as the anchor', async () => {
    const pinned = parsePemCertificates(await readFile(join(tsa.dir, 'tsa.crt'), 'utf8'));
    const result = await verifyTimestampToken(stored.token, {
      imprint: stored.imprint,
      trustAnchors: pinned,
    });
    expect(result.tsa).toBe('CN=Quittance Test TSA,O=Quittance Test');
  });

  it('never accepts a token with a byte of the TSTInfo flipped', async () => {
    const token = stored.token as Uint8Array<ArrayBuffer>;
    const signed = new SignedData({ schema: ContentInfo.fromBER(token).content });
    const tstInfo = new Uint8Array(signed.encapContentInfo.eContent?.getValue() ?? []);
    const start = Buffer.from(token).indexOf(Buffer.from(tstInfo));
    expect(start).toBeGreaterThan(0);

    // The policy OID's last arc: still a well-formed TSTInfo, so only the signature catches it.
    const policy = Buffer.from(token).indexOf(Buffer.from('2b06010401868d1f01', 'hex'), start);
    const tampered = new Uint8Array(token);
    tampered[policy + 8] = 0x02;
    expect(TSTInfo.fromBER(tampered.slice(start, start + tstInfo.length)).policy).toBe(
      '1.3.6.1.4.1.99999.2',
    );
    const error = await rejection(
      verifyTimestampToken(tampered, { imprint: stored.imprint, trustAnchors: anchors }),
    );
    expect(error.code).toBe('bad_signature');

    const allowed: TspErrorCode[] = ['bad_signature', 'malformed', 'imprint_mismatch'];
    for (let i = start; i < start + tstInfo.length; i++) {
      const flipped = new Uint8Array(token);
      flipped[i] = (flipped[i] as number) ^ 0x01;
      const failure = await rejection(
        verifyTimestampToken(flipped, { imprint: stored.imprint, trustAnchors: anchors }),
      );
      expect(allowed).toContain(failure.code);
    }
  });

  it('checks the ESS signing-certificate attribute that pkijs ignores', async () => {
    const [keyPem, tsaPem] = await Promise.all([
      readFile(join(tsa.dir, 'tsa.key'), 'utf8'),
      readFile(join(tsa.dir, 'tsa.crt'), 'utf8'),
    ]);
    const [certDer] = parsePemCertificates(tsaPem) as Uint8Array<ArrayBuffer>[];
    const base = {
      keyPem,
      certDer: certDer as Uint8Array<ArrayBuffer>,
      extraCerts: anchors as Uint8Array<ArrayBuffer>[],
    };
    const token = stored.token as Uint8Array<ArrayBuffer>;
    const verify = (der: Uint8Array) =>
      verifyTimestampToken(der, { imprint: stored.imprint, trustAnchors: anchors });

    // Sanity: the helper's own tokens verify, with v1, v2 and a correct issuerSerial.
    for (const ess of ['v1', 'v2'] as const) {
      await verify(await resignToken(token, { ...base, ess, issuerSerial: {} }));
    }
    const cases: [string, Parameters<typeof resignToken>[1], TspErrorCode][] = [
      ['no ESS attribute', { ...base, ess: 'none' }, 'ess_mismatch'],
      ['wrong certHash', { ...base, essCertHash: new Uint8Array(32).fill(7) }, 'ess_mismatch'],
      ['wrong issuerSerial', { ...base, issuerSerial: { serialDelta: 1 } }, 'ess_mismatch'],
      ['wrong content-type', { ...base, contentType: '1.2.840.113549.1.7.1' }, 'bad_signature'],
    ];
    for (const [name, options, code] of cases) {
      const error = await rejection(verify(await resignToken(token, options)));
      expect({ name, code: error.code }).toEqual({ name, code });
    }
  });
});

describe('TSA faults', () => {
  const cases: [TsaMode, TspErrorCode][] = [
    ['wrong-ca', 'untrusted_chain'],
    ['non-critical-eku', 'bad_eku'],
    ['wrong-nonce', 'nonce_mismatch'],
    ['wrong-imprint', 'imprint_mismatch'],
    ['error-status', 'not_granted'],
  ];
  it.each(cases)('%s is rejected with %s', async (mode, code) => {
    tsa.setMode(mode);
    const { imprint, request, response } = await timestamp(tsa.url);
    const error = await rejection(
      verifyTimestampResponse(response, { imprint, nonce: request.nonce, trustAnchors: anchors }),
    );
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(false);
  });

  it('non-critical-eku fails only the OpenSSL purpose check, too', async () => {
    tsa.setMode('non-critical-eku');
    const { request, response } = await timestamp(tsa.url);
    await expect(assertOpensslAccepts(tsa, request, response)).rejects.toThrow(
      /unsuitable certificate purpose/,
    );
  });

  it('reports a stopped TSA as retryable tsa_unavailable, then recovers', async () => {
    await tsa.stop();
    try {
      const error = await rejection(timestamp(tsa.url));
      expect(error.code).toBe('tsa_unavailable');
      expect(error.retryable).toBe(true);
    } finally {
      await tsa.start();
    }
    const { imprint, request, response } = await timestamp(tsa.url);
    await verifyTimestampResponse(response, {
      imprint,
      nonce: request.nonce,
      trustAnchors: anchors,
    });
  });
});

describe('requestTimestamp transport errors', () => {
  const servers: { close(): void }[] = [];
  afterAll(() => {
    for (const server of servers) server.close();
  });

  async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<string> {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return `http://127.0.0.1:${port}`;
  }

  it.each([
    ['a 503', 503, 'application/timestamp-reply'],
    ['an HTML page', 200, 'text/html'],
  ])('treats %s as tsa_unavailable', async (_name, status, type) => {
    const url = await listen(
      createServer((_req, res) => {
        res.writeHead(status, { 'content-type': type }).end('<html>busy</html>');
      }),
    );
    const error = await rejection(requestTimestamp(url, createTimestampRequest(imprintOf('x'))));
    expect(error.code).toBe('tsa_unavailable');
    expect(error.retryable).toBe(true);
  });

  it('times out a TSA that never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => {
      sockets.push(socket);
    });
    const url = await listen(silent);
    const started = Date.now();
    const error = await rejection(
      requestTimestamp(url, createTimestampRequest(imprintOf('x')), { timeoutMs: 200 }),
    );
    for (const socket of sockets) socket.destroy();
    expect(error.code).toBe('tsa_unavailable');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('200 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
