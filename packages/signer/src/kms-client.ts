import type { KMSClient } from '@aws-sdk/client-kms';
import { decimalIntegerIn, MAX_TIMER_MS } from '@quittance/format';
import { rememberDeadlines } from './kms-sign-call';

export interface KmsClientOptions {
  region?: string;
  /** Overrides the endpoint, e.g. a KMS-protocol test server; `AWS_ENDPOINT_URL_KMS` also works. */
  endpoint?: string;
  maxAttempts?: number;
  /** Per attempt: time to connect, and time for the whole answer once connected. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/**
 * A KMS client with the SDK's standard retries (throttling and 5xx, with backoff and jitter)
 * and deadlines on every attempt: the SDK sets none, so a KMS endpoint that accepts and never
 * answers would hold its caller forever. Ed25519 signing answers in milliseconds; the defaults
 * (1 s to connect, 2 s to answer, 2 attempts) bound a call to about 5 s, well under the
 * database's lock and idle-transaction timeouts (10 s and 15 s).
 *
 * The SDK is loaded here, on first use, not when this package is: a process that signs with
 * local keys and a local bundle store never loads the AWS SDK (about 25 MB of resident memory
 * for KMS and S3 together, measured).
 */
export async function createKmsClient(options: KmsClientOptions = {}): Promise<KMSClient> {
  const { KMSClient } = await import('@aws-sdk/client-kms');
  // Whole milliseconds in decimal digits up to a Node timer's limit, or start-up stops: a
  // value read otherwise ("5ms", "0x10", past 2^31 - 1) would be a deadline nobody meant.
  const env = (name: string) => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = decimalIntegerIn(raw, 1, MAX_TIMER_MS);
    if (value === undefined)
      throw new Error(
        `invalid environment: ${name}: ${JSON.stringify(raw)} is not whole milliseconds from 1 to ${MAX_TIMER_MS}`,
      );
    return value;
  };
  const connectionTimeoutMs =
    options.connectionTimeoutMs ?? env('QUITTANCE_KMS_CONNECT_TIMEOUT_MS') ?? 1_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? env('QUITTANCE_KMS_TIMEOUT_MS') ?? 2_000;
  const client = new KMSClient({
    region:
      options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    maxAttempts: options.maxAttempts ?? 2,
    requestHandler: {
      connectionTimeout: connectionTimeoutMs,
      requestTimeout: requestTimeoutMs,
      // Without it, smithy only logs a warning when the deadline passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  rememberDeadlines(client, { connectionTimeoutMs, requestTimeoutMs });
  return client;
}
