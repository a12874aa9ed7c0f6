// `npm run build`: the production build. Bundles the CLI (serve, worker, stack, verify,
// monitor, admin) and the workspace packages it uses into dist/ as plain JavaScript, so
// production runs `node dist/quittance.js` without a TypeScript loader. Third-party packages
// stay in node_modules (PGlite loads its WebAssembly from its own folder; the AWS SDK and
// postgres.js are patched or large). Commands keep loading lazily: one chunk per command.
import { cp, readdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/app`;

/** Bundle our workspace packages (TypeScript sources); leave every other package external. */
const externalDependencies = {
  name: 'external-dependencies',
  setup(b) {
    b.onResolve({ filter: /^[^./#]/ }, (args) =>
      args.path.startsWith('@quittance/') || args.path.startsWith('node:')
        ? undefined
        : { path: args.path, external: true },
    );
  },
};

await rm(out, { recursive: true, force: true });
const started = performance.now();
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    quittance: 'apps/cli/src/entry.ts',
    // Bundle verification's worker threads load this file beside the bundle.
    'receipt-worker': 'packages/verifier/src/node/receipt-worker.ts',
  },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  conditions: ['node'],
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  // Files read at run time live beside the bundle (see packages/db/src/migrate.ts).
  define: { QUITTANCE_BUILD: 'true' },
  banner: { js: '// Built by scripts/build.mjs from the TypeScript sources; do not edit.' },
  plugins: [externalDependencies],
});
await cp(`${root}migrations`, `${out}/migrations`, { recursive: true });

const files = (await readdir(out)).filter((f) => f.endsWith('.js'));
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(
  `built ${files.length} chunks (${(bytes / 1024).toFixed(0)} KiB with source maps) in dist/app in ${Math.round(performance.now() - started)} ms\n`,
);
