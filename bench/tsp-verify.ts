/**
 * Offline RFC 3161 response verification rate, one core, as an auditor checking a bundle sees
 * it: the same TSA certificates every time, so after the first token the certificate, key and
 * chain caches are warm. Asserts nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePemCertificates, verifyTimestampResponse } from '@quittance/tsp';

const dir = join(import.meta.dirname, '../packages/tsp/test/fixtures');
const response = new Uint8Array(readFileSync(join(dir, 'openssl-tsa-response.tsr')));
const anchors = parsePemCertificates(readFileSync(join(dir, 'openssl-tsa-ca.pem'), 'utf8'));
const imprint = Uint8Array.from(
  Buffer.from(readFileSync(join(dir, 'openssl-tsa-imprint.hex'), 'utf8').trim(), 'hex'),
);
const expected = JSON.parse(readFileSync(join(dir, 'openssl-tsa-expected.json'), 'utf8'));
const nonce = BigInt(`0x${expected.nonce}`);
const check = () => verifyTimestampResponse(response, { imprint, nonce, trustAnchors: anchors });
const cold = performance.now();
await check();
console.log(`first verification (cold caches): ${(performance.now() - cold).toFixed(1)} ms`);
for (let i = 0; i < 200; i++) await check();
const n = 2000;
const started = performance.now();
for (let i = 0; i < n; i++) await check();
console.log(
  `RFC 3161 response verification: ${Math.round(n / ((performance.now() - started) / 1000))} /s`,
);
