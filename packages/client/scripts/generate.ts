/**
 * Regenerates packages/client/openapi.json and src/openapi.ts from the API's own document
 * (the zod schemas that validate requests). Run after changing a route:
 *   npm run generate -w @quittance/client
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createApp, createServices, loadConfig } from '@quittance/api';

const here = resolve(import.meta.dirname, '..');
const dataDir = await mkdtemp(join(tmpdir(), 'quittance-openapi-'));
const services = await createServices(
  loadConfig({
    QUITTANCE_DATA_DIR: dataDir,
    QUITTANCE_ADMIN_TOKEN: 'x'.repeat(32),
    LOG_LEVEL: 'silent',
  }),
);
try {
  const document = await (await createApp(services).request('/openapi.json')).json();
  // The server URL depends on where it runs; the client takes its own.
  delete document.servers;
  await writeFile(join(here, 'openapi.json'), `${JSON.stringify(document, null, 2)}\n`);
  execFileSync(
    join(here, '../../node_modules/.bin/openapi-typescript'),
    ['openapi.json', '-o', 'src/openapi.ts'],
    { cwd: here, stdio: 'inherit' },
  );
} finally {
  await services.close();
  await rm(dataDir, { recursive: true, force: true });
}
