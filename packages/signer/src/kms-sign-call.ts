import { createHash, createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SignatureV4 } from '@smithy/signature-v4';
import { toSignerError } from './kms-errors';

/**
 * KMS `Sign` without the SDK's per-call machinery. Measured on issue 14's bench, one
 * `KMSClient.send(SignCommand)` cost about 0.8 ms of CPU more than the same request signed by
 * the SDK's own SigV4 signer (@smithy/signature-v4) and sent over a keep-alive agent: with a
 * KMS signer, that was more than the rest of an issue request. Everything that is not the
 * request itself still comes from the client: region, credentials (with their refresh),
 * attempts, and the endpoint, taken from the SDK's own first request (the signer's
 * GetPublicKey), so AWS_ENDPOINT_URL_KMS, FIPS and custom endpoints resolve as the SDK does.
 * Errors are shaped like the SDK's (`name`, `$metadata.httpStatusCode`), so the same
 * classifier maps them and decides what is retried (throttling, 5xx, network, timeouts),
 * with the SDK's standard backoff (exponential, full jitter).
 */

/** Deadlines of one attempt, as createKmsClient sets them on the SDK's handler. */
export interface KmsDeadlines {
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
}

interface Endpoint {
  protocol: string;
  hostname: string;
  port: number | undefined;
  path: string;
}

interface Lean {
  endpoint?: Endpoint;
  /** Made with the first lean call: a process without KMS never loads the SigV4 module. */
  signer?: SignatureV4;
  agent: HttpAgent;
}

const DEFAULT_DEADLINES: KmsDeadlines = { connectionTimeoutMs: 1_000, requestTimeoutMs: 2_000 };
const deadlines = new WeakMap<KMSClient, KmsDeadlines>();
const leans = new WeakMap<KMSClient, Lean>();

/** Called by createKmsClient: the lean call keeps the same deadlines as the SDK's handler. */
export function rememberDeadlines(client: KMSClient, value: KmsDeadlines): void {
  deadlines.set(client, value);
}

/** node:crypto behind the checksum interface SignatureV4 expects (SHA-256, or HMAC with a key). */
class NodeSha256 {
  readonly #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret ? createHmac('sha256', bytesOf(secret)) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {}
}

const bytesOf = (data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

function leanOf(client: KMSClient): Lean {
  const known = leans.get(client);
  if (known) return known;
  const created: Lean = { agent: new HttpAgent({ keepAlive: true, maxSockets: 256 }) };
  // The SDK's resolved endpoint, read off the first request it sends through this client.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as Partial<Endpoint> & { protocol?: string };
      if (!created.endpoint && request.hostname) {
        created.endpoint = {
          protocol: request.protocol ?? 'https:',
          hostname: request.hostname,
          port: request.port,
          path: request.path ?? '/',
        };
        if (created.endpoint.protocol === 'https:')
          created.agent = new HttpsAgent({ keepAlive: true, maxSockets: 256 });
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'quittanceLeanSignEndpoint' },
  );
  leans.set(client, created);
  return created;
}

/** Installs the endpoint capture: call before the client's first request. */
export function prepareLeanSign(client: KMSClient): void {
  leanOf(client);
}

/**
 * The signature, or undefined when the endpoint is not known yet (no SDK request has gone
 * through the client): the caller then signs through the SDK.
 */
export async function leanSign(
  client: KMSClient,
  keyId: string,
  message: Uint8Array,
  algorithm: string,
): Promise<Uint8Array | undefined> {
  const lean = leanOf(client);
  const endpoint = lean.endpoint;
  if (!endpoint) return undefined;
  const signer = lean.signer ?? (await sigV4For(lean, client));
  const body = JSON.stringify({
    KeyId: keyId,
    Message: Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('base64'),
    MessageType: 'RAW',
    SigningAlgorithm: algorithm,
  });
  const attempts = Math.max(1, Number(await client.config.maxAttempts()) || 1);
  for (let attempt = 1; ; attempt++) {
    try {
      const limits = deadlines.get(client) ?? DEFAULT_DEADLINES;
      const answer = await send(signer, lean.agent, endpoint, body, limits);
      const signature = (answer as { Signature?: unknown }).Signature;
      return typeof signature === 'string'
        ? new Uint8Array(Buffer.from(signature, 'base64'))
        : new Uint8Array(0);
    } catch (error) {
      // The same classification as every other KMS error (kms-errors.ts).
      if (attempt >= attempts || !toSignerError(error, 'Sign').retryable) throw error;
      // Full jitter over an exponential base of 100 ms, as the SDK's standard mode.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(20_000, 100 * 2 ** attempt)));
    }
  }
}

/** An error shaped as the SDK shapes service errors. */
function serviceError(name: string, message: string, status: number | undefined): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

async function sigV4For(lean: Lean, client: KMSClient): Promise<SignatureV4> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  lean.signer = new SignatureV4({
    service: 'kms',
    region: client.config.region,
    credentials: client.config.credentials,
    sha256: NodeSha256,
  });
  return lean.signer;
}

async function send(
  signer: SignatureV4,
  agent: HttpAgent,
  endpoint: Endpoint,
  body: string,
  limits: KmsDeadlines,
): Promise<unknown> {
  const host = endpoint.port ? `${endpoint.hostname}:${endpoint.port}` : endpoint.hostname;
  const signed = await signer.sign({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    port: endpoint.port,
    path: endpoint.path,
    query: {},
    headers: {
      host,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'TrentService.Sign',
    },
    body,
  });
  const request = endpoint.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const timedOut = () =>
      fail(serviceError('TimeoutError', 'KMS did not answer in time', undefined));
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      reject(error);
    };
    // As the SDK's handler: a deadline to connect, then one for the whole answer.
    let deadline = setTimeout(timedOut, limits.connectionTimeoutMs);
    const answering = () => {
      clearTimeout(deadline);
      if (!settled) deadline = setTimeout(timedOut, limits.requestTimeoutMs);
    };
    const req = request(
      {
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        port: endpoint.port,
        path: endpoint.path,
        method: 'POST',
        agent,
        headers: { ...signed.headers, 'content-length': Buffer.byteLength(body) },
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => fail(error));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          const status = res.statusCode ?? 0;
          let answer: { __type?: string; message?: string; Message?: string } = {};
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          } catch {
            answer = {};
          }
          if (status >= 200 && status < 300) return resolve(answer);
          const type = answer.__type ?? res.headers['x-amzn-errortype'];
          const name =
            String(type ?? `Http${status}`)
              .split('#')
              .pop()
              ?.split(':')[0] ?? 'Error';
          reject(serviceError(name, answer.message ?? answer.Message ?? `HTTP ${status}`, status));
        });
      },
    );
    req.on('socket', (socket) => {
      if (socket.connecting) socket.once('connect', answering);
      else answering();
    });
    req.on('error', (error) => fail(error));
    req.end(body);
  });
}
