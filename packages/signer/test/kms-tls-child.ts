/**
 * Run as a child process by kms-tls.int.test.ts, with NODE_EXTRA_CA_CERTS naming the test's
 * own certificate authority (read only at start-up): signs through an https KMS endpoint and
 * prints one JSON line with the public key and the signatures (base64url).
 */
import { createKmsClient, KmsSigner } from '../src';

const client = await createKmsClient({
  endpoint: process.env.KMS_URL,
  maxAttempts: 1,
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
});
const signer = await KmsSigner.create({ client, kid: 'acme-tls' });
const messages = ['one', 'two', 'three'].map((m) => new TextEncoder().encode(m));
const signatures: string[] = [];
for (const message of messages) {
  signatures.push(Buffer.from(await signer.sign(message)).toString('base64url'));
}
console.log(JSON.stringify({ jwk: await signer.publicJwk(), signatures }));
