import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { canonicalBytes, MAX_SIGNING_INPUT_BYTES } from '@quittance/format';
import { type KmsTestServer, startKmsServer, until } from '@quittance/test-tooling';
import { loadKeyHistory, parsePublisherKeys } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from './bundle-helpers';
import { createKmsHarness, type Harness, issueBody } from './harness';

/**
 * SPEC 1.1 §2.1: documents that grow without bound are signed through a digest statement, so
 * keys held in AWS KMS (4096-byte raw messages) sign them at any size. Everything here goes
 * through the real SDK to the KMS-protocol endpoint: merchant keys, publisher key, vault.
 */
const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'node_modules/.bin/quittance');
const run = promisify(execFile);
const SNAPSHOT_KEYS = 500;
const BUNDLE_RECEIPTS = Number(process.env.KMS_BUNDLE_RECEIPTS ?? 20_000);

let h: Harness;
let kms: KmsTestServer;
let dir: string;

beforeAll(async () => {
  kms = await startKmsServer();
  dir = await mkdtemp(join(tmpdir(), 'quittance-kms-large-'));
  h = await createKmsHarness(kms, { jobs: true, kmsPublisher: true });
});
afterAll(async () => {
  await h?.close();
  await kms?.close();
  await rm(dir, { recursive: true, force: true });
});

async function inParallel(count: number, width: number, task: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

describe('KMS-held keys sign documents of any size (digest statements)', () => {
  it(`a KMS publisher key signs a snapshot of ${SNAPSHOT_KEYS} keys that verifies offline`, async () => {
    // One merchant per key, each made through the admin API: every creation re-signs the
    // whole (growing) snapshot in KMS.
    await inParallel(SNAPSHOT_KEYS, 4, async (i) => {
      const r = await h.admin('POST', '/merchants', {
        merchantId: `kms-big-${i}`,
        jurisdiction: 'US',
      });
      expect(r.status).toBe(201);
    });
    const period = new Date().toISOString().slice(0, 7);
    const snapshot = (await h.call('GET', `/.well-known/jwks/snapshot/${period}.json`)).body;
    expect(snapshot.keys.length).toBeGreaterThanOrEqual(SNAPSHOT_KEYS);
    const document = { ...snapshot };
    delete document.jws;
    expect(canonicalBytes(document).length).toBeGreaterThan(20 * MAX_SIGNING_INPUT_BYTES);

    const publisherDoc = (await h.call('GET', '/.well-known/quittance-publisher.json')).body;
    const history = await loadKeyHistory(snapshot, {
      publisher: parsePublisherKeys(publisherDoc),
    });
    expect(history.authentic.status).toBe('asserted');
  }, 240_000);

  it(`a KMS merchant key signs the manifest of a ${BUNDLE_RECEIPTS}-receipt bundle with bodies; verify passes it`, async () => {
    const m = await h.merchant();
    const signsBefore = kms.counts.Sign ?? 0;
    await inParallel(BUNDLE_RECEIPTS, 32, async (i) => {
      const r = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ callId: `big-${i}`, orderId: `order-${i % 97}` }),
      });
      if (r.status !== 201) throw new Error(`issue ${i}: ${r.status} ${JSON.stringify(r.body)}`);
    });
    expect((kms.counts.Sign ?? 0) - signsBefore).toBeGreaterThanOrEqual(BUNDLE_RECEIPTS);

    const created = await h.call('POST', '/api/v1/trust/exports', {
      key: m.auditorKey,
      body: { jurisdiction: 'EU', includeBodies: true },
    });
    expect(created.status).toBe(202);
    await until(
      async () => {
        const s = await h.call('GET', `/api/v1/trust/exports/${created.body.id}`, {
          key: m.auditorKey,
        });
        if (s.body.status === 'failed') throw new Error(`export failed: ${s.body.error}`);
        return s.body.status === 'done';
      },
      180_000,
      250,
    );
    // Offline, with the command line, as an auditor would: the bundle's snapshot holds the
    // keys of the test above too, signed by the KMS publisher key.
    const publisherDoc = (await h.call('GET', '/.well-known/quittance-publisher.json')).body;
    await writeFile(join(dir, 'publisher.json'), JSON.stringify(publisherDoc));
    const path = join(dir, 'bundle.zip');
    await download(h.app, m.auditorKey, created.body.id, path);
    const out = await run(
      bin,
      ['verify', path, '--publisher', join(dir, 'publisher.json'), '--json'],
      { maxBuffer: 256 * 1024 * 1024 },
    );
    const report = JSON.parse(out.stdout);
    expect(report.ok).toBe(true);
    expect(report.claims).toMatchObject({
      manifest_valid: { status: 'asserted' },
      files_intact: { status: 'asserted' },
      snapshot_authentic: { status: 'asserted' },
      chain_complete: { status: 'asserted' },
    });
    expect(report.receipts).toHaveLength(BUNDLE_RECEIPTS);
    expect(
      report.receipts.every(
        (r: { claims: Record<string, { status: string }> }) =>
          r.claims.signature_valid?.status === 'asserted' &&
          r.claims.body_matches?.status === 'asserted',
      ),
    ).toBe(true);
  }, 600_000);
});
