import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { KMSClient } from '@aws-sdk/client-kms';
import { toSignerError } from './kms-errors';
import { type AwsCredentials, JsonPostSigner } from './sigv4';

/**
 * KMS `Sign` without the SDK's per-call machinery. Measured on issue 14's bench, one
 * `KMSClient.send(SignCommand)` cost about 0.8 ms of CPU more than the same request signed by
 * SigV4 (sigv4.ts) and sent over a keep-alive agent: with a KMS signer, that was more than the
 * rest of an issue request. (undici's pool cost about 30 µs less per call than node:http, but
 * importing undici makes its agent the process's global fetch dispatcher: every fetch of the
 * process would have changed behaviour.) Everything that is not the request itself still
 * comes from the client: region, credentials (with their refresh), attempts, and the
 * endpoint, taken from the SDK's own first request (the signer's GetPublicKey), so
 * AWS_ENDPOINT_URL_KMS, FIPS and custom endpoints resolve as the SDK does. Errors are shaped
 * like the SDK's (`name`, `$metadata.httpStatusCode`), so the same classifier maps them and
 * decides what is retried (throttling, 5xx, network, timeouts), with the SDK's standard
 * backoff (exponential, full jitter).
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
  /** The Host header as the SDK sends it. */
  host: string;
}

interface Lean {
  endpoint?: Endpoint;
  agent: HttpAgent;
  region?: string;
  signer: JsonPostSigner;
}

const DEFAULT_DEADLINES: KmsDeadlines = { connectionTimeoutMs: 1_000, requestTimeoutMs: 2_000 };
const deadlines = new WeakMap<KMSClient, KmsDeadlines>();
const leans = new WeakMap<KMSClient, Lean>();

/** Called by createKmsClient: the lean call keeps the same deadlines as the SDK's handler. */
export function rememberDeadlines(client: KMSClient, value: KmsDeadlines): void {
  deadlines.set(client, value);
}

function leanOf(client: KMSClient): Lean {
  const known = leans.get(client);
  if (known) return known;
  const created: Lean = {
    signer: new JsonPostSigner(),
    agent: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
  };
  // The SDK's resolved endpoint, read off the first request it sends through this client. An
  // endpoint with a path of its own (a proxy's prefix) stays with the SDK.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as {
        protocol?: string;
        hostname?: string;
        port?: number;
        path?: string;
      };
      if (!created.endpoint && request.hostname && (request.path ?? '/') === '/') {
        const protocol = request.protocol ?? 'https:';
        const host = request.port ? `${request.hostname}:${request.port}` : request.hostname;
        created.endpoint = { protocol, hostname: request.hostname, port: request.port, host };
        if (protocol === 'https:')
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
  lean.region ??= await client.config.region();
  const limits = deadlines.get(client) ?? DEFAULT_DEADLINES;
  const body = JSON.stringify({
    KeyId: keyId,
    Message: Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('base64'),
    MessageType: 'RAW',
    SigningAlgorithm: algorithm,
  });
  const attempts = Math.max(1, Number(await client.config.maxAttempts()) || 1);
  for (let attempt = 1; ; attempt++) {
    try {
      const credentials: AwsCredentials = await client.config.credentials();
      const headers = lean.signer.sign({
        region: lean.region,
        service: 'kms',
        host: endpoint.host,
        target: 'TrentService.Sign',
        contentType: 'application/x-amz-json-1.1',
        body,
        credentials,
        now: new Date(),
      });
      const answer = await send(lean.agent, endpoint, headers, body, limits);
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

function send(
  agent: HttpAgent,
  endpoint: Endpoint,
  headers: Record<string, string>,
  body: string,
  limits: KmsDeadlines,
): Promise<unknown> {
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
        path: '/',
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
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
