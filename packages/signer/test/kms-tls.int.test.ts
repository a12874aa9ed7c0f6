import { execFile } from 'node:child_process';
import { createPublicKey, type JsonWebKey, verify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type KmsTestServer, spawnProcess, startKmsServer } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
let kms: KmsTestServer;
let proxy: Server;
let folder: string;
let tlsConnections = 0;

beforeAll(async () => {
  kms = await startKmsServer({ secretAccessKey: 'test-secret' });
  folder = await mkdtemp(join(tmpdir(), 'kms-tls-'));
  // A self-signed certificate for 127.0.0.1, trusted by the child through NODE_EXTRA_CA_CERTS.
  await run('openssl', [
    ...'req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1'.split(' '),
    ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    ...['-keyout', join(folder, 'key.pem'), '-out', join(folder, 'cert.pem')],
  ]);
  // TLS in front of the plain-HTTP KMS test endpoint: only TLS reaches it through here.
  const target = new URL(kms.url);
  proxy = createServer(
    {
      key: await readFile(join(folder, 'key.pem')),
      cert: await readFile(join(folder, 'cert.pem')),
    },
    (socket) => {
      tlsConnections++;
      const upstream = connect(Number(target.port), target.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => proxy.close(resolve));
  await kms.close();
  await rm(folder, { recursive: true, force: true });
});

describe('KMS over TLS', () => {
  it('signs through an https endpoint, the lean Sign included, with the CA the process trusts', async () => {
    const port = (proxy.address() as AddressInfo).port;
    const child = spawnProcess(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./kms-tls-child.ts', import.meta.url))],
      {
        env: {
          ...process.env,
          KMS_URL: `https://127.0.0.1:${port}`,
          NODE_EXTRA_CA_CERTS: join(folder, 'cert.pem'),
        },
      },
    );
    const [line] = await child.waitFor(/^\{.*\}$/m, 30_000);
    const { jwk, signatures } = JSON.parse(line) as { jwk: JsonWebKey; signatures: string[] };
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    ['one', 'two', 'three'].forEach((message, i) => {
      const signature = Buffer.from(signatures[i] as string, 'base64url');
      expect(verify(null, Buffer.from(message), publicKey, signature)).toBe(true);
    });
    // The first Sign follows the SDK's GetPublicKey, so all three went the lean way, over TLS.
    expect(kms.withoutSdk.Sign).toBe(3);
    expect(kms.signatureFailures).toBe(0);
    expect(tlsConnections).toBeGreaterThanOrEqual(2);
  });
});
