#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step between workspaces), through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
// Commands close what they open; should a library leave a handle behind, do not hang.
setTimeout(() => process.exit(), 3_000).unref();
