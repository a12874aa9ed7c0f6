import { KMSClient, SignCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { startKmsServer } from '@quittance/test-tooling';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
const kms = await startKmsServer();
const { fork } = await import('node:child_process');
const client = new KMSClient({ region: 'us-east-1', endpoint: kms.url, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' } });
const key = await client.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519' as never, KeyUsage: 'SIGN_VERIFY' }));
const keyId = key.KeyMetadata!.KeyId!;
const msg = new Uint8Array(900).fill(65);
async function measure(label: string, fn: () => Promise<unknown>, n = 4000, conc = 32) {
  for (let i = 0; i < 200; i++) await fn();
  const c0 = process.cpuUsage(); const t0 = performance.now();
  let done = 0;
  await Promise.all(Array.from({ length: conc }, async () => { while (done < n) { done++; await fn(); } }));
  const c = process.cpuUsage(c0); const t = performance.now() - t0;
  console.log(label, `${(n / t * 1000).toFixed(0)}/s, cpu/call (client+server in this process) ${((c.user + c.system) / n).toFixed(0)} us`);
}
await measure('sdk', () => client.send(new SignCommand({ KeyId: keyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: 'ED25519_SHA_512' as never })));
class Sha256 {
  #h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | Uint8Array) { this.#h = secret ? createHmac('sha256', secret) : createHash('sha256'); }
  update(data: string | Uint8Array) { this.#h.update(data); }
  async digest() { return new Uint8Array(this.#h.digest()); }
  reset() {}
}
const signer = new SignatureV4({ service: 'kms', region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' }, sha256: Sha256 });
const url = new URL(kms.url);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
await measure('raw', async () => {
  const body = JSON.stringify({ KeyId: keyId, Message: Buffer.from(msg).toString('base64'), MessageType: 'RAW', SigningAlgorithm: 'ED25519_SHA_512' });
  const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Sign' }, body });
  await new Promise((resolve, reject) => { const r = request({ host: url.hostname, port: url.port, method: 'POST', path: '/', headers: signed.headers, agent }, (res) => { let t = ''; res.on('data', (d) => t += d); res.on('end', () => resolve(JSON.parse(t))); }); r.on('error', reject); r.end(body); });
});
await measure('server only (empty sign op measured via raw path baseline)', async () => {}, 10);
await kms.close();
process.exit(0);
