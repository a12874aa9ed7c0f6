import { execFile } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pendingTimestamps, receipts } from '@quittance/db';
import { canonicalJson, timestampImprint as signatureImprint } from '@quittance/format';
import {
  startTsaServer,
  TEST_REDIS_URL,
  type TsaMode,
  type TsaTestServer,
  until,
} from '@quittance/test-tooling';
import { parsePemCertificates } from '@quittance/tsp';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '@quittance/verifier';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download, unzipAll } from './bundle-helpers';
import { createHarness, type Harness, issueBody } from './harness';

const run = promisify(execFile);
let tsa: TsaTestServer;
let h: Harness;

beforeAll(async () => {
  tsa = await startTsaServer();
  h = await createHarness({
    jobs: true,
    env: {
      REDIS_URL: TEST_REDIS_URL,
      QUITTANCE_TSA_URL: tsa.url,
      QUITTANCE_TSA_TRUST: tsa.trustPemPath,
      QUITTANCE_SWEEP_INTERVAL_MS: '100',
      QUITTANCE_RETRY_MAX_MS: '300',
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
  await tsa?.close();
});

/** What `openssl ts -verify` says of a receipt's token over its signature segment. */
async function opensslVerify(
  receipt: { jws: string; timestamp: { token: string } },
  caFile: string,
  options: { attime?: Date } = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quittance-tsverify-'));
  await writeFile(join(dir, 'token.der'), Buffer.from(receipt.timestamp.token, 'base64'));
  const imprint = Buffer.from(await signatureImprint(receipt.jws)).toString('hex');
  const { stdout } = await run('openssl', [
    'ts',
    '-verify',
    '-token_in',
    '-in',
    join(dir, 'token.der'),
    '-digest',
    imprint,
    '-CAfile',
    caFile,
    ...(options.attime ? ['-attime', String(Math.floor(options.attime.getTime() / 1000))] : []),
  ]).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: `${error.stdout ?? ''}${error.stderr ?? ''}`,
  }));
  return stdout;
}

const stored = (id: string) =>
  h.services.db
    .select()
    .from(receipts)
    .where(eq(receipts.id, id))
    .then((r) => r[0]);

describe('RFC 3161 timestamps through the BullMQ worker and the OpenSSL TSA', () => {
  it('attaches a verified token: ades_candidate_timestamped, openssl ts -verify and timestamp_valid agree', async () => {
    const m = await h.merchant();
    const issued = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    expect(issued.body.legal_posture).toBe('signed');
    const receipt = await h.timestamped(m.merchantKey, issued.body.id);
    expect(receipt.timestamp).toMatchObject({
      token: expect.any(String),
      tsa: expect.stringContaining('Quittance Test TSA'),
    });
    expect(Date.parse(receipt.timestamp.genTime)).toBeGreaterThanOrEqual(
      Date.parse(receipt.createdAt) - 5 * 60_000,
    );

    expect(await opensslVerify(receipt, tsa.trustPemPath)).toContain('Verification: OK');

    const snapshot = (await h.call('GET', new URL(receipt.jwksSnapshotUrl).pathname)).body;
    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    const history = await loadKeyHistory(snapshot, { publisher });
    const report = await verifyReceipt(receipt, history, {
      tsaTrustAnchors: parsePemCertificates(tsa.trustPem),
    });
    expect(report.claims.timestamp_valid.status).toBe('asserted');
    const other = await verifyReceipt(receipt, history, {
      tsaTrustAnchors: parsePemCertificates(tsa.otherCaPem),
    });
    expect(other.claims.timestamp_valid.status).toBe('refuted');
    const swapped = await verifyReceipt(
      { ...receipt, timestamp: { ...receipt.timestamp, genTime: '2020-01-01T00:00:00Z' } },
      history,
      {
        tsaTrustAnchors: parsePemCertificates(tsa.trustPem),
      },
    );
    expect(swapped.claims.timestamp_valid.status).toBe('refuted');
  });

  it("an export verifies by hand as its VERIFY.md says: openssl on tsa/ alone, the manifest's digest statement", async () => {
    // tsa/ held only the certificate the tokens embed (the TSA's own, not its root), so the
    // documented openssl command failed; VERIFY.md described the manifest's payload as its
    // canonical form, not the digest statement SPEC §2.1 signs (found by an independent check).
    const m = await h.merchant();
    const issued = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    const receipt = await h.timestamped(m.merchantKey, issued.body.id);
    const created = await h.call('POST', '/api/v1/trust/exports', {
      key: m.merchantKey,
      body: { jurisdiction: 'EU' },
    });
    await until(async () => {
      const r = await h.call('GET', `/api/v1/trust/exports/${created.body.id}`, {
        key: m.merchantKey,
      });
      if (r.body.status === 'failed') throw new Error(r.body.error);
      return r.body.status === 'done';
    });
    const dir = await mkdtemp(join(tmpdir(), 'quittance-by-hand-'));
    const zip = join(dir, 'bundle.zip');
    expect((await download(h.app, m.merchantKey, created.body.id, zip)).status).toBe(200);
    const files = await unzipAll(zip);
    const verifyMd = (files.get('VERIFY.md') as Buffer).toString('utf8');
    expect(verifyMd).toContain('{"sha256": D}');
    expect(verifyMd).toContain('cat tsa/*.pem > tsa.pem');

    // Step 5, with the bundle's tsa/ only, at the token's own time (-attime): checked at the
    // day of verifying, the command fails once the TSA's certificate has expired, as an
    // outside auditor showed; here it expires after 20 years, so 2060 stands for that day.
    expect(verifyMd).toContain('-attime "$(date -d "<timestamp.genTime>" +%s)"');
    const pems = [...files].filter(([name]) => name.startsWith('tsa/')).map(([, pem]) => pem);
    await writeFile(join(dir, 'tsa.pem'), Buffer.concat(pems));
    const tsaPem = join(dir, 'tsa.pem');
    const genTime = new Date(receipt.timestamp.genTime);
    expect(await opensslVerify(receipt, tsaPem, { attime: genTime })).toContain('Verification: OK');
    const later = new Date('2060-01-01T00:00:00Z');
    expect(await opensslVerify(receipt, tsaPem, { attime: later })).toContain('expired');

    // Step 2: D = SHA-256 of JCS(manifest), payload JCS({"sha256": D}), Ed25519 by the kid.
    const manifest = JSON.parse((files.get('manifest.json') as Buffer).toString('utf8'));
    const [header, , signature] = (files.get('manifest.jws') as Buffer)
      .toString('utf8')
      .trim()
      .split('.') as [string, string, string];
    const d = createHash('sha256').update(canonicalJson(manifest)).digest('hex');
    const payload = Buffer.from(canonicalJson({ sha256: d })).toString('base64url');
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    const snapshots = [...files].filter(([name]) => name.startsWith('jwks/'));
    const jwk = snapshots
      .flatMap(([, text]) => JSON.parse(text.toString('utf8')).keys as { kid: string; x: string }[])
      .find((key) => key.kid === kid);
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk?.x }, format: 'jwk' });
    expect(
      verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url')),
    ).toBe(true);
  });

  it('a token from another receipt is refuted', async () => {
    const m = await h.merchant();
    const [a, b] = await Promise.all(
      [1, 2].map(() =>
        h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() }),
      ),
    );
    const [ra, rb] = await Promise.all(
      [a, b].map((r) =>
        until(async () => {
          const got = await h.call('GET', `/api/v1/trust/receipts/${r?.body.id}`, {
            key: m.merchantKey,
          });
          return got.body.timestamp && got.body;
        }),
      ),
    );
    const snapshot = (await h.call('GET', new URL(ra.jwksSnapshotUrl).pathname)).body;
    const report = await verifyReceipt({ ...ra, timestamp: rb.timestamp }, snapshot, {
      tsaTrustAnchors: parsePemCertificates(tsa.trustPem),
    });
    expect(report.claims.timestamp_valid.status).toBe('refuted');
    expect(report.claims.timestamp_valid.reason).toContain('imprint');
  });

  it.each<TsaMode | 'down'>([
    'wrong-ca',
    'non-critical-eku',
    'wrong-nonce',
    'wrong-imprint',
    'error-status',
    'down',
  ])(
    'TSA %s: no token while wrong, posture signed; the backlog drains once it answers',
    async (mode) => {
      const m = await h.merchant();
      const before = tsa.requests;
      if (mode === 'down') await tsa.stop();
      else tsa.setMode(mode);
      try {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await h.call('POST', '/api/v1/trust/receipts', {
            key: m.merchantKey,
            body: issueBody(),
          });
          expect(r.status).toBe(201);
          ids.push(r.body.id);
        }
        await until(async () => {
          const rows = await h.services.db
            .select()
            .from(pendingTimestamps)
            .where(inArray(pendingTimestamps.receiptId, ids));
          return rows.length === 3 && rows.every((row) => row.lastError) && rows;
        });
        if (mode !== 'down') expect(tsa.requests).toBeGreaterThan(before);
        for (const id of ids) {
          const row = await stored(id);
          expect(row?.legalPosture).toBe('signed');
          expect(row?.timestamp).toBeNull();
        }
      } finally {
        if (mode === 'down') await tsa.start();
        tsa.setMode('ok');
      }
      await until(async () => {
        const rows = await h.services.db
          .select()
          .from(receipts)
          .where(eq(receipts.merchantId, m.merchantId));
        return (
          rows.length === 3 &&
          rows.every((row) => row.legalPosture === 'ades_candidate_timestamped')
        );
      });
    },
  );
});
