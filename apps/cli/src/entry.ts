// The compiled `quittance` command (dist/app/quittance.js, built by `npm run build`): the same
// main as bin/quittance.js, which runs the TypeScript sources through tsx in development.
import { main } from './main';

process.exitCode = await main(process.argv.slice(2));
// Commands close what they open; should a library leave a handle behind, do not hang.
setTimeout(() => process.exit(), 3_000).unref();
