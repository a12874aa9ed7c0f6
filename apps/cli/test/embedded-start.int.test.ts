import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnProcess, startTsaServer, until } from '@quittance/test-tooling';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, run } from './cli-bin';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** `quittance serve` in a fresh folder, as on a bare machine: no DATABASE_URL, Redis or token. */
async function startBare(prefix: string, extra: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    QUITTANCE_DATA_DIR: join(dir, 'data'),
    LOG_LEVEL: 'warn',
    ...extra,
  };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.QUITTANCE_ADMIN_TOKEN;
  const server = spawnProcess(bin, ['serve'], { cwd: dir, env });
  await server.waitFor(/Fetch the receipts of that order/, 60_000);
  const out = server.stdout();
  return {
    dir,
    env,
    port,
    base: `http://127.0.0.1:${port}`,
    server,
    key: (out.match(/Bearer (qtk_[A-Za-z0-9_-]+)/) as RegExpMatchArray)[1] as string,
    body: (out.match(/-d '(\{.*\})'/) as RegExpMatchArray)[1] as string,
  };
}

/** The snapshot a receipt names and the publisher key, saved next to it for `verify`. */
async function saveKeys(dir: string, base: string, receipt: { jwksSnapshotUrl: string }) {
  await writeFile(join(dir, 'snapshot.json'), await (await fetch(receipt.jwksSnapshotUrl)).text());
  await writeFile(
    join(dir, 'publisher.json'),
    await (await fetch(`${base}/.well-known/quittance-publisher.json`)).text(),
  );
}

describe('npm start on a bare machine (embedded PGlite, local signer, no Redis)', () => {
  it('prints the admin token once and a curl line; the receipt fetched by order verifies', async () => {
    const { dir, env, port, base, server, key, body } = await startBare('quittance-e2e-');
    try {
      const out = server.stdout();
      expect(out).toContain(`Quittance is serving on http://127.0.0.1:${port}`);
      expect(out).toMatch(/Admin token \(shown once/);

      const issued = await fetch(`${base}/api/v1/trust/receipts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      });
      expect(issued.status).toBe(201);
      const receipt = await issued.json();
      const order = await (
        await fetch(`${base}/api/v1/trust/receipts/by-order/order-1`, {
          headers: { authorization: `Bearer ${key}` },
        })
      ).json();
      expect(order.receipts.map((r: { id: string }) => r.id)).toEqual([receipt.id]);
      await writeFile(join(dir, 'order.json'), JSON.stringify(order));
      await saveKeys(dir, base, receipt);
      const verified = await run(
        bin,
        ['verify', 'order.json', '--jwks', 'snapshot.json', '--publisher', 'publisher.json'],
        { cwd: dir },
      );
      expect(verified.stdout).toMatch(/^PASS /m);

      // Export the merchant's receipts and verify the bundle offline, as the README says.
      const requested = await fetch(`${base}/api/v1/trust/exports`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jurisdiction: 'EU', includeBodies: true }),
      });
      expect(requested.status).toBe(202);
      const { id } = await requested.json();
      for (let i = 0; i < 100; i++) {
        const status = await (
          await fetch(`${base}/api/v1/trust/exports/${id}`, {
            headers: { authorization: `Bearer ${key}` },
          })
        ).json();
        if (status.status === 'done') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const zip = await fetch(`${base}/api/v1/trust/exports/${id}/download`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(zip.status).toBe(200);
      await writeFile(join(dir, 'bundle.zip'), Buffer.from(await zip.arrayBuffer()));
      const bundle = await run(bin, ['verify', 'bundle.zip', '--publisher', 'publisher.json'], {
        cwd: dir,
      });
      expect(bundle.stdout).toMatch(/ok +files_intact/);
      expect(bundle.stdout).toMatch(/ok +manifest_valid/);
      expect(bundle.stdout).toMatch(/^PASS /m);
      const asJson = JSON.parse(
        (
          await run(bin, ['verify', 'bundle.zip', '--publisher', 'publisher.json', '--json'], {
            cwd: dir,
          })
        ).stdout,
      );
      expect(asJson).toMatchObject({
        ok: true,
        receipts: [{ id: receipt.id, claims: { body_matches: { status: 'asserted' } } }],
      });
      await writeFile(
        join(dir, 'broken.zip'),
        (await readFile(join(dir, 'bundle.zip'))).subarray(0, 200),
      );
      const unreadable = await run(bin, ['verify', 'broken.zip', '--publisher', 'publisher.json'], {
        cwd: dir,
      }).catch((e) => e);
      expect(unreadable.code).toBe(2);
      expect(unreadable.stderr).toContain('not a readable zip');

      const admin = await run(bin, ['admin', 'chain-check', 'demo', '--url', base], {
        cwd: dir,
        env,
      });
      expect(JSON.parse(admin.stdout)).toMatchObject({ ok: true, checked: 1 });
      expect(await server.stop('SIGTERM')).toBe(0);

      // A restart keeps the data and does not print the token again.
      const again = spawnProcess(bin, ['serve'], { cwd: dir, env });
      try {
        await again.waitFor(/Admin token: /, 60_000);
        expect(again.stdout()).not.toMatch(/qta_/);
        const fetched = await fetch(`${base}/api/v1/trust/receipts/${receipt.id}`, {
          headers: { authorization: `Bearer ${key}` },
        });
        expect(await fetched.json()).toEqual(receipt);
      } finally {
        expect(await again.stop('SIGTERM')).toBe(0);
      }
    } finally {
      await server.stop('SIGKILL');
    }
  }, 120_000);

  it('with QUITTANCE_TSA_URL, npm start timestamps receipts within seconds; verify asserts the token', async () => {
    const tsa = await startTsaServer();
    const { dir, base, server, key, body } = await startBare('quittance-e2e-tsa-', {
      QUITTANCE_TSA_URL: tsa.url,
      QUITTANCE_TSA_TRUST: tsa.trustPemPath,
    });
    try {
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const issued = await (
        await fetch(`${base}/api/v1/trust/receipts`, { method: 'POST', headers, body })
      ).json();
      const started = Date.now();
      const receipt = await until(async () => {
        const r = await (
          await fetch(`${base}/api/v1/trust/receipts/${issued.id}`, { headers })
        ).json();
        return r.legal_posture === 'ades_candidate_timestamped' && r;
      }, 15_000);
      expect(Date.now() - started).toBeLessThan(10_000);
      await writeFile(join(dir, 'receipt.json'), JSON.stringify(receipt));
      await saveKeys(dir, base, receipt);
      const verified = await run(
        bin,
        [
          'verify',
          'receipt.json',
          '--jwks',
          'snapshot.json',
          '--publisher',
          'publisher.json',
          '--tsa-trust',
          tsa.trustPemPath,
          '--json',
        ],
        { cwd: dir },
      );
      expect(JSON.parse(verified.stdout)).toMatchObject({
        ok: true,
        receipts: [{ claims: { timestamp_valid: { status: 'asserted' } } }],
      });
      expect(await server.stop('SIGTERM')).toBe(0);
    } finally {
      await server.stop('SIGKILL');
      await tsa.close();
    }
  }, 120_000);

  it('stops with one readable line when the demo merchant cannot be created (KMS unreachable)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-e2e-fail-'));
    dirs.push(dir);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(await freePort()),
      QUITTANCE_DATA_DIR: join(dir, 'data'),
      QUITTANCE_SIGNING_BACKEND: 'kms',
      // Port 9 (discard), which nothing here listens on: a free port picked by freePort could
      // be taken by another test's server before the process calls it (seen once in CI).
      AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_MAX_ATTEMPTS: '1',
      LOG_LEVEL: 'silent',
    };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    delete env.QUITTANCE_ADMIN_TOKEN;
    const failed = await run(bin, ['serve'], { cwd: dir, env, timeout: 60_000 }).catch((e) => e);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(
      /^quittance: could not create the demo merchant: .*ECONNREFUSED/m,
    );
    expect(failed.stderr).not.toMatch(/\n\s+at /);
    expect(failed.stdout).not.toMatch(/Demo merchant/);
  }, 90_000);
});
