import { exports as exportsTable } from '@quittance/db';
import { until } from '@quittance/test-tooling';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, issueBody } from '../harness';

/**
 * A builder that dies mid-export leaves a lease nobody renews. With a short lease renewed by
 * a heartbeat, another builder takes the export over within one lease (not 15 minutes), and
 * the one whose lease was taken cannot finish it afterwards.
 */
const LEASE_S = 2;
let h: Harness;

beforeAll(async () => {
  h = await createHarness({ env: { QUITTANCE_EXPORT_LEASE_S: String(LEASE_S) } });
});
afterAll(() => h?.close());

describe('export leases', () => {
  it('an export whose builder died is built by another within one lease', async () => {
    const m = await h.merchant();
    for (let i = 0; i < 10; i++)
      await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() });
    const created = await h.call('POST', '/api/v1/trust/exports', {
      key: m.auditorKey,
      body: { jurisdiction: 'EU' },
    });
    const id = created.body.id as string;
    // The dead builder: it leased the export (attempt 1) and will never renew or finish.
    await h.services.db
      .update(exportsTable)
      .set({
        status: 'running',
        attempts: 1,
        leasedUntil: sql`now() + make_interval(secs => ${LEASE_S})`,
      })
      .where(eq(exportsTable.id, id));
    const died = Date.now();
    await h.services.exports.build(id);
    expect(
      (await h.call('GET', `/api/v1/trust/exports/${id}`, { key: m.auditorKey })).body,
    ).toMatchObject({ status: 'running' });

    await until(
      async () => {
        await h.services.exports.build(id);
        const s = await h.call('GET', `/api/v1/trust/exports/${id}`, { key: m.auditorKey });
        return s.body.status === 'done';
      },
      15_000,
      250,
    );
    const recovered = Date.now() - died;
    console.log(`export lease: built by another builder ${recovered} ms after the first died`);
    expect(recovered).toBeLessThan((LEASE_S + 3) * 1_000);
    const [row] = await h.services.db.select().from(exportsTable).where(eq(exportsTable.id, id));
    expect(row?.attempts).toBe(2);
  });

  it('a builder that lost its lease does not finish the export', async () => {
    const m = await h.merchant();
    await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() });
    const created = await h.call('POST', '/api/v1/trust/exports', {
      key: m.auditorKey,
      body: { jurisdiction: 'EU' },
    });
    const id = created.body.id as string;
    // Another builder takes the lease over while this one builds: the attempt number moves on.
    const building = h.services.exports.build(id);
    await h.services.db
      .update(exportsTable)
      .set({ attempts: sql`${exportsTable.attempts} + 1` })
      .where(eq(exportsTable.id, id));
    await building;
    const [row] = await h.services.db.select().from(exportsTable).where(eq(exportsTable.id, id));
    expect(row?.status).toBe('running');
    expect(row?.sha256).toBeNull();
  });
});
