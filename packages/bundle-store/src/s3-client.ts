import { S3Client } from '@aws-sdk/client-s3';

export interface S3ClientOptions {
  region?: string;
  /** An S3-compatible endpoint (MinIO, a test server); path-style addressing is then used. */
  endpoint?: string;
  maxAttempts?: number;
  /** Per attempt: time to connect, time until the answer starts (upload included), and
   * longest silence on the socket while a request or response body streams. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  socketTimeoutMs?: number;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/**
 * An S3 client with the SDK's standard retries (throttling, 5xx and dropped connections, with
 * backoff and jitter) and deadlines on every attempt, as for KMS: the SDK sets none, so a
 * store that accepts and never answers would hold an export forever. An 8 MiB part needs
 * about 60 s at 1 Mbit/s, hence the request deadline; 3 attempts bound a stuck part to about
 * three minutes, and a refused connection fails in well under a second.
 *
 * The SDK's default flexible checksums stay on (a CRC32 header on each part): lib-storage
 * sends every part as a buffer, so no aws-chunked trailer is involved, and s3rver accepts
 * them. For an S3-compatible server that rejects them, the SDK's own variables turn them off:
 * AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED, AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED.
 */
export function createS3Client(options: S3ClientOptions = {}): S3Client {
  return new S3Client({
    region: options.region ?? 'us-east-1',
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 60_000,
      socketTimeout: options.socketTimeoutMs ?? 30_000,
      // Without it, smithy only logs a warning when the deadline passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}
