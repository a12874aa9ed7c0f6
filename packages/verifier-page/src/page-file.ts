import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** Where `npm run build:verifier-page` writes the page: dist/ at the repository root. */
export const VERIFIER_PAGE_FILE = resolve(import.meta.dirname, '../../../dist/verify.html');

let built: Promise<string> | undefined;

/**
 * The verifier page for the API to serve at /verify: the built file, or when it has not been
 * built, the page built now in memory (once per process) when esbuild is installed, as it is
 * in development. Undefined where neither is possible (a production image without the
 * built file): the caller answers 404 saying how to build it.
 */
export async function readVerifierPage(): Promise<string | undefined> {
  const file = findBuiltPage();
  if (file) return readFile(file, 'utf8');
  built ??= import('./build').then(
    async ({ buildVerifierPage }) => (await buildVerifierPage()).html,
  );
  try {
    return await built;
  } catch {
    built = undefined;
    return undefined;
  }
}

/** dist/verify.html at the repository root, or beside a bundled build (dist/app). */
function findBuiltPage(): string | undefined {
  for (let dir = import.meta.dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'dist', 'verify.html');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}
