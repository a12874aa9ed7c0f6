import { resolve } from 'node:path';
import madge from 'madge';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The import rules of the repository (issue 11), read from the real import graph of every
 * app and package by madge: no cycles, no app reaching into another, and in the API no
 * domain code that knows about HTTP.
 */
const ROOT = resolve(import.meta.dirname, '../../..');

/**
 * The only imports from one app into another: the CLI runs the API (`serve`, `worker`)
 * through its entry, never its internals. Empty once the service is a package of its own.
 */
const APP_ENTRIES_ALLOWED: Record<string, string[]> = {
  'apps/cli': ['apps/api/src/index.ts'],
};

/** The API's concept folders (one per SPEC concept); `http/`, `jobs/` and the root wire them. */
const CONCEPTS = [
  'auth',
  'chain',
  'exports',
  'keys',
  'merchants',
  'timestamps',
  'transparency',
  'vault',
];

/**
 * Domain files that still import the HTTP layer, until their owners move them to
 * ServiceError: each entry is a known debt, not a rule.
 */
const HTTP_IMPORTS_PENDING = new Set<string>();

let graph: Record<string, string[]>;
let cycles: string[][];

beforeAll(async () => {
  const result = await madge([resolve(ROOT, 'apps'), resolve(ROOT, 'packages')], {
    baseDir: ROOT,
    fileExtensions: ['ts'],
    tsConfig: resolve(ROOT, 'tsconfig.json'),
    excludeRegExp: [/node_modules/, /\.d\.ts$/],
  });
  graph = result.obj();
  cycles = result.circular();
}, 300_000);

const appOf = (file: string) => /^apps\/[^/]+/.exec(file)?.[0];
const isSource = (file: string) => /^(apps|packages)\/[^/]+\/src\//.test(file);

describe('the import graph of apps and packages', () => {
  it('reads the source of every app and package', () => {
    const files = Object.keys(graph);
    expect(files).toContain('apps/api/src/services.ts');
    expect(files).toContain('apps/cli/src/main.ts');
    expect(files).toContain('packages/format/src/index.ts');
    // Workspace packages resolve to their sources, so edges between packages are seen.
    expect(graph['apps/api/src/index.ts']).toContain('apps/api/src/services.ts');
    expect(graph['apps/cli/src/commands/serve.ts']).toContain('apps/api/src/index.ts');
  });

  it('has no import cycle', () => {
    expect(cycles).toEqual([]);
  });

  it('has no app importing another app, except through an allowed entry', () => {
    const crossings: string[] = [];
    for (const [file, imports] of Object.entries(graph)) {
      const app = appOf(file);
      if (!app || !isSource(file)) continue;
      for (const imported of imports) {
        const other = appOf(imported);
        if (!other || other === app) continue;
        if (!APP_ENTRIES_ALLOWED[app]?.includes(imported)) crossings.push(`${file} -> ${imported}`);
      }
    }
    expect(crossings).toEqual([]);
  });

  it("keeps the API's domain code and jobs free of HTTP, and the domain of the composition root", () => {
    const leaks: string[] = [];
    for (const folder of [...CONCEPTS, 'jobs'].map((name) => `apps/api/src/${name}/`)) {
      for (const [file, imports] of Object.entries(graph)) {
        // Routes are the HTTP layer of their concept.
        if (!file.startsWith(folder) || file.startsWith(`${folder}routes/`)) continue;
        for (const imported of imports) {
          const http = imported.startsWith('apps/api/src/http/');
          const root = imported === 'apps/api/src/services.ts' && !folder.endsWith('/jobs/');
          if (root || (http && !HTTP_IMPORTS_PENDING.has(file)))
            leaks.push(`${file} -> ${imported}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });
});
