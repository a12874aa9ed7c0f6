/**
 * A KMS-protocol test endpoint: AWS KMS's JSON 1.1 wire protocol (`X-Amz-Target:
 * TrentService.<Op>`) with real node crypto behind it. It exists because no KMS emulator
 * supports Ed25519 keys. TEST TOOLING ONLY: keys live in memory, requests are not
 * authenticated (SigV4 headers are accepted, not checked).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
  sign,
  verify,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';

interface KmsKey {
  keyId: string;
  arn: string;
  spec: string;
  usage: string;
  enabled: boolean;
  created: number;
  privateKey?: KeyObject;
  publicKey?: KeyObject;
  secret?: Buffer;
}

/** Faults the next requests should meet; each counter is decremented as it is used. */
export interface KmsFaults {
  /** Answer this many requests with ThrottlingException. */
  throttle: number;
  /** Answer this many requests with KMSInternalException (HTTP 500). */
  internalError: number;
  /** Return this many truncated (63-byte) signatures. */
  shortSignature: number;
  /** Return this many signatures with one bit flipped. */
  corruptSignature: number;
  /** Wait this long before answering each request. */
  delayMs: number;
  /** While true, accept each request and never answer it (a hung KMS). */
  hang: boolean;
  /**
   * Run (once, then cleared) before the next Sign is answered: something that happens while
   * a signature is in flight, e.g. a key rotation.
   */
  beforeSign?: (() => Promise<void>) | undefined;
}

export interface KmsTestServer {
  readonly url: string;
  /** Requests seen per operation, e.g. `counts.Sign`. */
  readonly counts: Record<string, number>;
  readonly faults: KmsFaults;
  /** Requests per operation sent without the AWS SDK (no `amz-sdk-invocation-id` header). */
  readonly withoutSdk: Record<string, number>;
  /** Requests refused because their SigV4 signature did not check (with `secretAccessKey`). */
  readonly signatureFailures: number;
  close(): Promise<void>;
}

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * AWS Signature Version 4 (AWS's "Create a signed AWS API request"), written out here from
 * the specification and independent of the SDK's signer: the signature the request should
 * carry, or a reason it cannot be checked. Single-chunk bodies; the path is used as sent.
 */
export function expectedSigV4(
  request: { method: string; path: string; headers: IncomingMessage['headers']; body: Buffer },
  secretAccessKey: string,
): { signature: string } | { problem: string } {
  const authorization = String(request.headers.authorization ?? '');
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/.exec(
      authorization,
    );
  if (!match) return { problem: 'no AWS4-HMAC-SHA256 Authorization header' };
  const [, , day, region, service, signedHeaders] = match as unknown as string[];
  const amzDate = String(request.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(day as string)) return { problem: 'x-amz-date is not the scope day' };
  const names = (signedHeaders as string).split(';');
  if (!names.includes('host') || !names.includes('x-amz-date'))
    return { problem: 'host and x-amz-date must be signed' };
  const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
  const hmac = (key: string | Buffer, data: string) =>
    createHmac('sha256', key).update(data).digest();
  const canonicalHeaders = names
    .map(
      (name) =>
        `${name}:${String(request.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const [path, query = ''] = request.path.split('?');
  const canonicalRequest = [
    request.method,
    path,
    query.split('&').filter(Boolean).sort().join('&'),
    canonicalHeaders,
    signedHeaders,
    sha256(request.body),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${secretAccessKey}`, day as string);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part as string);
  return { signature: createHmac('sha256', key).update(stringToSign).digest('hex') };
}

export async function startKmsServer(
  options: {
    port?: number;
    /** Refuse requests whose SigV4 signature does not check with this secret key (403). */
    secretAccessKey?: string;
  } = {},
): Promise<KmsTestServer> {
  const keys = new Map<string, KmsKey>();
  const counts: Record<string, number> = {};
  const faults: KmsFaults = {
    throttle: 0,
    internalError: 0,
    shortSignature: 0,
    corruptSignature: 0,
    delayMs: 0,
    hang: false,
  };
  const hung = new Set<ServerResponse>();
  let signatureFailures = 0;
  const withoutSdk: Record<string, number> = {};

  const findKey = (id: unknown): KmsKey => {
    if (typeof id !== 'string') throw new KmsFault('ValidationException', 'KeyId is required');
    const keyId = id.startsWith('arn:') ? id.slice(id.lastIndexOf('/') + 1) : id;
    const key = keys.get(keyId);
    if (!key) throw new KmsFault('NotFoundException', `Key '${id}' does not exist`);
    if (!key.enabled) throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
    return key;
  };
  const blob = (value: unknown, name: string): Buffer => {
    if (typeof value !== 'string') throw new KmsFault('ValidationException', `${name} is required`);
    return Buffer.from(value, 'base64');
  };
  const metadata = (key: KmsKey) => ({
    AWSAccountId: ACCOUNT,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: key.created,
    Enabled: key.enabled,
    KeyState: key.enabled ? 'Enabled' : 'Disabled',
    KeySpec: key.spec,
    CustomerMasterKeySpec: key.spec,
    KeyUsage: key.usage,
    KeyManager: 'CUSTOMER',
    Origin: 'AWS_KMS',
    ...(key.usage === 'SIGN_VERIFY'
      ? { SigningAlgorithms: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'] }
      : {}),
    ...(key.usage === 'ENCRYPT_DECRYPT' ? { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] } : {}),
  });
  const contextAad = (context: unknown): Buffer => {
    const entries = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return Buffer.from(JSON.stringify(entries));
  };
  const assertSigning = (key: KmsKey, body: Record<string, unknown>): Buffer => {
    if (key.usage !== 'SIGN_VERIFY' || !key.privateKey) {
      throw new KmsFault('InvalidKeyUsageException', `${key.arn} is not a SIGN_VERIFY key`);
    }
    if (body.SigningAlgorithm !== 'ED25519_SHA_512') {
      throw new KmsFault(
        'InvalidKeyUsageException',
        `unsupported SigningAlgorithm ${body.SigningAlgorithm}`,
      );
    }
    if ((body.MessageType ?? 'RAW') !== 'RAW') {
      throw new KmsFault('ValidationException', 'ED25519_SHA_512 requires MessageType RAW');
    }
    const message = blob(body.Message, 'Message');
    if (message.length > 4096) {
      throw new KmsFault(
        'ValidationException',
        "Value at 'message' failed to satisfy constraint: length <= 4096",
      );
    }
    return message;
  };

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    CreateKey(body) {
      const spec = (body.KeySpec as string | undefined) ?? 'SYMMETRIC_DEFAULT';
      const usage = (body.KeyUsage as string | undefined) ?? 'ENCRYPT_DECRYPT';
      const keyId = randomUUID();
      const key: KmsKey = {
        keyId,
        arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`,
        spec,
        usage,
        enabled: true,
        created: Date.now() / 1000,
      };
      if (spec === 'ECC_NIST_EDWARDS25519' && usage === 'SIGN_VERIFY') {
        const pair = generateKeyPairSync('ed25519');
        key.privateKey = pair.privateKey;
        key.publicKey = pair.publicKey;
      } else if (spec === 'SYMMETRIC_DEFAULT' && usage === 'ENCRYPT_DECRYPT') {
        key.secret = randomBytes(32);
      } else {
        throw new KmsFault(
          'UnsupportedOperationException',
          `${spec}/${usage} is not supported here`,
        );
      }
      keys.set(keyId, key);
      return { KeyMetadata: metadata(key) };
    },
    DescribeKey(body) {
      const keyId = String(body.KeyId ?? '');
      const key = keys.get(keyId.slice(keyId.lastIndexOf('/') + 1));
      if (!key) throw new KmsFault('NotFoundException', `Key '${keyId}' does not exist`);
      return { KeyMetadata: metadata(key) };
    },
    DisableKey(body) {
      findKey(body.KeyId).enabled = false;
      return {};
    },
    GetPublicKey(body) {
      const key = findKey(body.KeyId);
      if (!key.publicKey)
        throw new KmsFault('UnsupportedOperationException', `${key.arn} is symmetric`);
      return {
        KeyId: key.arn,
        KeySpec: key.spec,
        KeyUsage: key.usage,
        PublicKey: key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
        SigningAlgorithms: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'],
      };
    },
    Sign(body) {
      const key = findKey(body.KeyId);
      const message = assertSigning(key, body);
      let signature = sign(null, message, key.privateKey as KeyObject);
      if (faults.shortSignature > 0) {
        faults.shortSignature--;
        signature = signature.subarray(0, 63);
      } else if (faults.corruptSignature > 0) {
        faults.corruptSignature--;
        signature[0] = (signature[0] as number) ^ 1;
      }
      return {
        KeyId: key.arn,
        Signature: signature.toString('base64'),
        SigningAlgorithm: body.SigningAlgorithm,
      };
    },
    Verify(body) {
      const key = findKey(body.KeyId);
      const message = assertSigning(key, body);
      const ok = verify(
        null,
        message,
        key.publicKey as KeyObject,
        blob(body.Signature, 'Signature'),
      );
      if (!ok) throw new KmsFault('KMSInvalidSignatureException', 'signature is not valid');
      return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: body.SigningAlgorithm };
    },
    GenerateDataKey(body) {
      const key = findKey(body.KeyId);
      if (!key.secret) throw new KmsFault('InvalidKeyUsageException', `${key.arn} cannot encrypt`);
      const bytes =
        body.KeySpec === 'AES_128' ? 16 : ((body.NumberOfBytes as number | undefined) ?? 32);
      const plaintext = randomBytes(bytes);
      return {
        KeyId: key.arn,
        Plaintext: plaintext.toString('base64'),
        CiphertextBlob: seal(key, plaintext, body),
      };
    },
    Encrypt(body) {
      const key = findKey(body.KeyId);
      if (!key.secret) throw new KmsFault('InvalidKeyUsageException', `${key.arn} cannot encrypt`);
      return { KeyId: key.arn, CiphertextBlob: seal(key, blob(body.Plaintext, 'Plaintext'), body) };
    },
    Decrypt(body) {
      const ciphertext = blob(body.CiphertextBlob, 'CiphertextBlob');
      const keyId = ciphertext.subarray(1, 37).toString('ascii');
      const key = findKey(keyId);
      if (typeof body.KeyId === 'string' && !body.KeyId.endsWith(keyId)) {
        throw new KmsFault(
          'IncorrectKeyException',
          'the ciphertext was not encrypted under that key',
        );
      }
      try {
        const decipher = createDecipheriv(
          'aes-256-gcm',
          key.secret as Buffer,
          ciphertext.subarray(37, 49),
        );
        decipher.setAAD(contextAad(body.EncryptionContext));
        decipher.setAuthTag(ciphertext.subarray(49, 65));
        const plaintext = Buffer.concat([
          decipher.update(ciphertext.subarray(65)),
          decipher.final(),
        ]);
        return {
          KeyId: key.arn,
          Plaintext: plaintext.toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      } catch {
        throw new KmsFault(
          'InvalidCiphertextException',
          'ciphertext or encryption context is invalid',
        );
      }
    },
  };

  // Blob layout (ours, opaque to callers): 0x01 | keyId (36 ASCII) | iv (12) | tag (16) | ciphertext.
  function seal(key: KmsKey, plaintext: Buffer, body: Record<string, unknown>): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.secret as Buffer, iv);
    cipher.setAAD(contextAad(body.EncryptionContext));
    const encrypted = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([
      Buffer.from([1]),
      Buffer.from(key.keyId, 'ascii'),
      iv,
      cipher.getAuthTag(),
      encrypted,
    ]).toString('base64');
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
    counts[op] = (counts[op] ?? 0) + 1;
    if (req.headers['amz-sdk-invocation-id'] === undefined)
      withoutSdk[op] = (withoutSdk[op] ?? 0) + 1;
    if (faults.hang) {
      hung.add(res);
      return;
    }
    if (faults.delayMs > 0) await new Promise((r) => setTimeout(r, faults.delayMs));
    const beforeSign = op === 'Sign' ? faults.beforeSign : undefined;
    faults.beforeSign = op === 'Sign' ? undefined : faults.beforeSign;
    try {
      await beforeSign?.();
      if (options.secretAccessKey !== undefined) {
        const expected = expectedSigV4(
          {
            method: req.method ?? '',
            path: req.url ?? '/',
            headers: req.headers,
            body: Buffer.concat(chunks),
          },
          options.secretAccessKey,
        );
        const sent = /Signature=([0-9a-f]{64})/.exec(String(req.headers.authorization))?.[1];
        if ('problem' in expected || expected.signature !== sent) {
          signatureFailures++;
          throw new KmsFault(
            'InvalidSignatureException',
            'problem' in expected ? expected.problem : 'the request signature does not match',
            403,
          );
        }
      }
      const operation = operations[op];
      if (req.method !== 'POST' || !operation) {
        throw new KmsFault('UnknownOperationException', `unsupported operation ${target}`);
      }
      if (faults.throttle > 0) {
        faults.throttle--;
        throw new KmsFault('ThrottlingException', 'Rate exceeded');
      }
      if (faults.internalError > 0) {
        faults.internalError--;
        throw new KmsFault('KMSInternalException', 'internal error', 500);
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new KmsFault('SerializationException', 'body is not JSON');
      }
      reply(res, 200, operation(body));
    } catch (error) {
      const fault =
        error instanceof KmsFault
          ? error
          : new KmsFault('KMSInternalException', String(error), 500);
      reply(res, fault.status, { __type: fault.type, message: fault.message });
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    faults,
    withoutSdk,
    get signatureFailures() {
      return signatureFailures;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function reply(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}
