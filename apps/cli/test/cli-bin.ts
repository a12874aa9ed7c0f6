import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/** The repository's root, where the tests find the conformance vectors and fixtures. */
export const root = resolve(import.meta.dirname, '../../..');
/** The `quittance` command as a user runs it after `npm ci`. */
export const bin = join(root, 'node_modules/.bin/quittance');
export const run = promisify(execFile);
