/**
 * Sign and verify rates of one core: raw Ed25519 (node:crypto), LocalSigner issuing full
 * receipt signatures, and the verifier package checking full receipts. Prints figures;
 * asserts nothing. Run: npm run bench:sign (UV_THREADPOOL_SIZE=1 pins WebCrypto to one thread).
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { planReceiptSignature, signedPart } from '@quittance/format';
import { LocalSigner, signPlan } from '@quittance/signer';
import { makeReceipt, makeSnapshot, publisherJwks } from '@quittance/test-tooling';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '@quittance/verifier';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

async function rate(name: string, op: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await op(); // warm-up
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) await op();
    n += 100;
  }
  const perSecond = n / ((performance.now() - start) / 1000);
  console.log(`${name.padEnd(48)} ${Math.round(perSecond).toLocaleString('en-US').padStart(9)} /s`);
  return perSecond;
}

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = LocalSigner.generate('acme-2026Q4');
const publisher = LocalSigner.generate('publisher-1');
const receipt = await makeReceipt({ signer });
const plan = planReceiptSignature(signedPart(receipt));
const message = plan.signingInput;
const signature = sign(null, message, privateKey);
const history = await loadKeyHistory(
  await makeSnapshot({
    publisher,
    keys: [{ signer, merchantId: 'acme', nbf: '2026-10-01T00:00:00.000Z' }],
  }),
  { publisher: parsePublisherKeys(await publisherJwks(publisher)) },
);

console.log(
  `node ${process.version}, ${message.length}-byte signing input, ${SECONDS}s per figure`,
);
const rawSign = await rate('raw Ed25519 sign (node:crypto)', () => sign(null, message, privateKey));
const rawVerify = await rate('raw Ed25519 verify (node:crypto)', () =>
  verify(null, message, publicKey, signature),
);
const issue = await rate('receipt signing: plan + LocalSigner', () =>
  signPlan(planReceiptSignature(receipt), signer),
);
const full = await rate('receipt verification: verifyReceipt (all claims)', () =>
  verifyReceipt(receipt, history),
);
console.log(`receipt signing   = ${(issue / rawSign).toFixed(2)} × raw sign`);
console.log(`receipt verifying = ${(full / rawVerify).toFixed(2)} × raw verify`);
