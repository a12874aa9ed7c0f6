/**
 * /docs of the running API in headless Chromium with every request outside the API refused:
 * Swagger UI renders from the API alone, shows the issue route with its request schema and
 * examples, and the problem codes have the anchors problem+json `type` links point at. The
 * examples module gives every operation of the document its examples.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RunningServer, startServer } from '@quittance/api';
import {
  createTestDatabase,
  freePort,
  launchBrowser,
  type TestBrowser,
  type TestDatabase,
} from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withExamples } from '../../../apps/api/src/http/openapi-examples';
import { PROBLEMS } from '../../../apps/api/src/http/problem';
import { screenshot } from './page-driver';

let database: TestDatabase;
let dataDir: string;
let server: RunningServer;
let browser: TestBrowser;

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'quittance-docs-'));
  server = await startServer(
    loadConfig({
      DATABASE_URL: database.url,
      QUITTANCE_DATA_DIR: dataDir,
      QUITTANCE_ADMIN_TOKEN: 'docs-admin-token-0123456789abcdef',
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      LOG_LEVEL: 'silent',
    }),
  );
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('/docs', () => {
  it('renders the issue route with its request schema and examples, offline', async () => {
    const refused: string[] = [];
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    // Only the API under test answers; anything else (a CDN, a validator badge) is refused.
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(server.url)) return route.continue();
      refused.push(route.request().url());
      return route.abort();
    });
    try {
      await page.goto(`${server.url}/docs`);
      const issue = page.locator('.opblock-post', {
        has: page.locator('[data-path="/api/v1/trust/receipts"]'),
      });
      await issue.locator('.opblock-summary-control').click();
      // The examples the examples module gives, shown first; then the schema with its members.
      const body = issue.locator('.opblock-section-request-body');
      await body.locator('.examples-select-element').waitFor();
      expect(await body.textContent()).toContain('"tool": "complete_checkout"');
      await screenshot(page, 'docs-issue-example.png', body);
      await body.locator('button[data-name="model"]').click();
      const schema = await body.locator('.model-box').textContent();
      expect(schema).toContain('IssueRequest');
      for (const member of ['callId', 'agentId', 'bucket', 'tool', 'inputHash'])
        expect(schema).toContain(member);
      await screenshot(page, 'docs-issue-schema.png', body);
      // Responses: the receipt, and the problem+json codes with their examples.
      const responses = await issue.locator('.responses-wrapper').textContent();
      expect(responses).toContain('trcpt_');
      expect(responses).toContain('application/problem+json');
      expect(await page.locator('#problem-call_id_conflict').textContent()).toContain('409');
      await screenshot(page, 'docs-problems.png', page.locator('section.problems'));
      expect(refused).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('OpenAPI examples', () => {
  it('gives every operation examples: request body, answers, and its problem codes', async () => {
    const served = await (await fetch(`${server.url}/openapi.json`)).json();
    const document = withExamples(served) as any;
    const missing: string[] = [];
    for (const [path, operations] of Object.entries<any>(document.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        const where = `${method.toUpperCase()} ${path}`;
        const json = operation.requestBody?.content?.['application/json'];
        if (json && !Object.keys(json.examples ?? {}).length) missing.push(`${where} request`);
        for (const [status, response] of Object.entries<any>(operation.responses)) {
          for (const [type, media] of Object.entries<any>(response.content ?? {})) {
            const examples = Object.values<any>(media.examples ?? {});
            if (!examples.length) missing.push(`${where} ${status} ${type}`);
            if (type !== 'application/problem+json') continue;
            // Each problem example is a real problem of that status.
            for (const { value } of examples) {
              expect(PROBLEMS[value.code as keyof typeof PROBLEMS]?.status, where).toBe(
                Number(status),
              );
              expect(value).toMatchObject({
                status: Number(status),
                type: `/docs#problem-${value.code}`,
              });
            }
          }
        }
      }
    }
    expect(missing).toEqual([]);
    // Enriching twice changes nothing: /docs may enrich what /openapi.json already enriched.
    expect(withExamples(document)).toEqual(document);
  });
});
