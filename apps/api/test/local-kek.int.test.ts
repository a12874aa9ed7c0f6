import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wrappedKeys } from '@quittance/db';
import { createTestDatabase, type TestDatabase } from '@quittance/test-tooling';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';
import { createApp } from '../src/http/app';
import { createServices, type Services } from '../src/services';
import { ADMIN_TOKEN, issueBody } from './harness';

/**
 * Nothing shared on disk (SPEC §11): with QUITTANCE_LOCAL_KEK the publisher key, the vault's
 * key-encryption key and local signing keys live in PostgreSQL, wrapped, so processes with
 * separate data folders share them. An install that kept them as files imports them on its
 * first start with the variable, and what they signed and wrapped stays verifiable and
 * readable from any data folder.
 */
const KEK = randomBytes(32).toString('base64url');
let database: TestDatabase;
const folders: string[] = [];
const running: Services[] = [];

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'quittance-kek-'));
  folders.push(dir);
  return dir;
}

/** One process's services and app on the shared database, with its own data folder. */
async function processWith(
  dataDir: string,
  env: Record<string, string> = {},
  databaseUrl = database.url,
) {
  const services = await createServices(
    loadConfig({
      DATABASE_URL: databaseUrl,
      QUITTANCE_DATA_DIR: dataDir,
      QUITTANCE_ADMIN_TOKEN: ADMIN_TOKEN,
      QUITTANCE_PUBLIC_URL: 'http://quittance.test',
      LOG_LEVEL: 'silent',
      ...env,
    }),
  );
  running.push(services);
  const app = createApp(services);
  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  return { services, call };
}

async function stop(services: Services) {
  running.splice(running.indexOf(services), 1);
  await services.close();
}

async function verifyWith(
  p: Awaited<ReturnType<typeof processWith>>,
  key: string,
  receipt: { jwksSnapshotUrl: string },
) {
  const snapshot = (await p.call('GET', new URL(receipt.jwksSnapshotUrl).pathname, key)).body;
  const publisher = parsePublisherKeys(
    (await p.call('GET', '/.well-known/quittance-publisher.json', key)).body,
  );
  return verifyReceipt(receipt as never, await loadKeyHistory(snapshot, { publisher }));
}

/** Files an earlier version kept keys in. */
async function keyFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const keys = names.includes('keys') ? await readdir(join(dir, 'keys')) : [];
  return [
    ...names.filter((n) => n === 'publisher.jwk' || n === 'vault.key'),
    ...keys.map((k) => `keys/${k}`),
  ];
}

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  for (const services of running) await services.close();
  await database?.drop();
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

describe('QUITTANCE_LOCAL_KEK: keys in the database, shared by every data folder', () => {
  it('imports the keys of a data-folder install once; any folder then signs, verifies and reads them', async () => {
    // An install of an earlier shape: keys as files in its one data folder.
    const firstDir = await folder();
    const before = await processWith(firstDir);
    const merchant = await before.services.keyRing.createMerchant({
      merchantId: 'acme',
      jurisdiction: 'EU',
    });
    const { apiKey } = await before.services.apiKeys.create('acme', 'merchant');
    const old = await before.call('POST', '/api/v1/trust/receipts', apiKey, issueBody());
    expect(old.status).toBe(201);
    const oldPublisher = (await before.services.publisher.publicJwk()).kid;
    expect((await keyFiles(firstDir)).sort()).toEqual([
      `keys/${merchant.signingKeyKid}.jwk`,
      'publisher.jwk',
      'vault.key',
    ]);
    await stop(before.services);

    // Its first start with the variable imports them, wrapped.
    const upgraded = await processWith(firstDir, { QUITTANCE_LOCAL_KEK: KEK });
    const stored = await upgraded.services.db.select().from(wrappedKeys);
    expect(stored.map((k) => k.name).sort()).toEqual([
      'publisher',
      `signing-key:${merchant.signingKeyKid}`,
      'vault-kek',
    ]);
    expect(new Set(stored.map((k) => k.kekId)).size).toBe(1);
    // Wrapped, not copied: no stored value contains the key file's bytes.
    const vaultKek = await readFile(join(firstDir, 'vault.key'));
    expect(stored.some((k) => Buffer.from(k.wrapped).includes(vaultKek))).toBe(false);
    expect((await upgraded.services.publisher.publicJwk()).kid).toBe(oldPublisher);
    await stop(upgraded.services);

    // Another process, another data folder, the same variable: the same keys.
    const otherDir = await folder();
    const other = await processWith(otherDir, { QUITTANCE_LOCAL_KEK: KEK });
    expect((await other.services.publisher.publicJwk()).kid).toBe(oldPublisher);
    const bodies = await other.call('GET', `/api/v1/trust/receipts/${old.body.id}/bodies`, apiKey);
    expect(bodies.status).toBe(200);
    expect(bodies.body.input).toEqual(issueBody().input);
    const fresh = await other.call('POST', '/api/v1/trust/receipts', apiKey, issueBody());
    expect(fresh.status).toBe(201);
    expect(fresh.body.signingKeyKid).toBe(merchant.signingKeyKid);
    for (const receipt of [old.body, fresh.body]) {
      const report = await verifyWith(other, apiKey, receipt);
      expect(report.claims.signature_valid.status).toBe('asserted');
      expect(report.claims.key_valid_at_issuance.status).toBe('asserted');
      expect(report.claims.snapshot_authentic.status).toBe('asserted');
    }
    // A rotation from this folder makes a key the first folder's process can sign with.
    const rotated = await other.services.keyRing.rotate('acme');
    expect(await keyFiles(otherDir)).toEqual([]);
    const first = await processWith(firstDir, { QUITTANCE_LOCAL_KEK: KEK });
    const after = await first.call('POST', '/api/v1/trust/receipts', apiKey, issueBody());
    expect(after.status).toBe(201);
    expect(after.body.signingKeyKid).toBe(rotated.kid);
    expect((await verifyWith(first, apiKey, after.body)).claims.signature_valid.status).toBe(
      'asserted',
    );
    await stop(first.services);
    await stop(other.services);
  });

  it('a process given another key-encryption key refuses to start, naming the variable', async () => {
    const other = randomBytes(32).toString('base64url');
    const failure = await processWith(await folder(), { QUITTANCE_LOCAL_KEK: other }).then(
      () => {
        throw new Error('expected the start to fail');
      },
      (error: Error) => error,
    );
    expect(failure.message).toMatch(/another QUITTANCE_LOCAL_KEK/);
    expect(failure.message).not.toContain(other);
    expect(failure.message).not.toContain(KEK);
  });

  it('never makes a new publisher key over snapshots signed by one it does not hold', async () => {
    const separate = await createTestDatabase();
    try {
      // Snapshots published by a data-folder install whose folder this process does not have.
      const legacy = await processWith(await folder(), {}, separate.url);
      await legacy.services.keyRing.createMerchant({ merchantId: 'shop', jurisdiction: 'US' });
      await stop(legacy.services);
      const failure = await processWith(
        await folder(),
        { QUITTANCE_LOCAL_KEK: KEK },
        separate.url,
      ).then(
        () => null,
        (error: Error) => error,
      );
      expect(failure?.message).toMatch(/key snapshots signed by a publisher key it does not hold/);
    } finally {
      await separate.drop();
    }
  });

  it('a malformed QUITTANCE_LOCAL_KEK stops the start without echoing it', () => {
    for (const value of ['short', `${KEK}AA`, Buffer.alloc(32).toString('hex')]) {
      let error: unknown;
      try {
        loadConfig({ QUITTANCE_LOCAL_KEK: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/QUITTANCE_LOCAL_KEK must be base64url of 32/);
      expect((error as Error).message).not.toContain(value);
    }
    expect(loadConfig({ QUITTANCE_LOCAL_KEK: KEK }).localKek).toHaveLength(32);
  });
});
