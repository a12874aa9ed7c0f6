import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { type AwsCredentials, type JsonPost, JsonPostSigner } from '../src/sigv4';

type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data) =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** node:crypto behind the checksum interface the SDK's signer expects. */
class Sha256 {
  readonly #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: Data) {
    this.#hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: Data) {
    this.#hash.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.#hash.digest());
  }
  reset() {}
}

/** The same request signed by the AWS SDK's own signer. */
async function sdkHeaders(post: JsonPost): Promise<Record<string, string>> {
  const [hostname, port] = post.host.split(':');
  const signer = new SignatureV4({
    service: post.service,
    region: post.region,
    credentials: post.credentials,
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'https:',
      hostname: hostname as string,
      port: port ? Number(port) : undefined,
      path: '/',
      query: {},
      headers: {
        host: post.host,
        'content-type': post.contentType,
        'x-amz-target': post.target,
      },
      body: post.body,
    },
    { signingDate: post.now },
  );
  return signed.headers;
}

const plain: AwsCredentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG',
};
const session: AwsCredentials = { ...plain, sessionToken: 'IQoJb3JpZ2luX2VjE//+token==' };

function post(overrides: Partial<JsonPost> = {}): JsonPost {
  return {
    region: 'eu-central-1',
    service: 'kms',
    host: 'kms.eu-central-1.amazonaws.com',
    target: 'TrentService.Sign',
    contentType: 'application/x-amz-json-1.1',
    body: JSON.stringify({ KeyId: 'arn:aws:kms:eu-central-1:1:key/k', Message: 'aGk=' }),
    credentials: plain,
    now: new Date('2026-12-06T18:53:40.123Z'),
    ...overrides,
  };
}

describe('JsonPostSigner', () => {
  it('signs exactly as the SDK signer: credentials with and without a session token, ports, regions, bodies', async () => {
    const cases: Partial<JsonPost>[] = [
      {},
      { credentials: session },
      { host: '127.0.0.1:4566', region: 'us-east-1' },
      { body: JSON.stringify({ note: 'grüße 🙂', Message: 'x'.repeat(6000) }) },
      { body: '' },
      { service: 'kms', region: 'us-gov-west-1', host: 'kms-fips.us-gov-west-1.amazonaws.com' },
    ];
    const signer = new JsonPostSigner();
    for (const overrides of cases) {
      const request = post(overrides);
      const ours = signer.sign(request);
      const sdk = await sdkHeaders(request);
      expect(ours).toEqual(sdk);
    }
  });

  it('derives a new signing key when the day, the region or the secret changes', async () => {
    const signer = new JsonPostSigner();
    const sequence: Partial<JsonPost>[] = [
      { now: new Date('2026-12-06T23:59:59.999Z') },
      { now: new Date('2026-12-07T00:00:00.000Z') },
      { now: new Date('2026-12-07T00:00:01.000Z'), region: 'us-west-2' },
      {
        now: new Date('2026-12-07T00:00:02.000Z'),
        region: 'us-west-2',
        credentials: { accessKeyId: 'AKIDROTATED', secretAccessKey: 'rotated-secret' },
      },
      { now: new Date('2026-12-07T00:00:03.000Z'), region: 'us-west-2' },
    ];
    for (const overrides of sequence) {
      const request = post(overrides);
      expect(signer.sign(request).authorization).toBe((await sdkHeaders(request)).authorization);
    }
  });
});
