// `npm run build:verifier-page`: writes the verifier page to dist/verify.html.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { buildVerifierPage } from './build';
import { VERIFIER_PAGE_FILE } from './page-file';

const started = performance.now();
const page = await buildVerifierPage();
await mkdir(dirname(VERIFIER_PAGE_FILE), { recursive: true });
await writeFile(VERIFIER_PAGE_FILE, page.html);
process.stdout.write(
  `wrote ${VERIFIER_PAGE_FILE}: ${(page.bytes / 1024).toFixed(0)} KiB (script ${(page.scriptBytes / 1024).toFixed(0)} KiB) in ${Math.round(performance.now() - started)} ms\n`,
);
