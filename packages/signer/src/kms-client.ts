import { KMSClient } from '@aws-sdk/client-kms';

export interface KmsClientOptions {
  region?: string;
  /** Overrides the endpoint, e.g. a KMS-protocol test server; `AWS_ENDPOINT_URL_KMS` also works. */
  endpoint?: string;
  maxAttempts?: number;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** A KMS client with the SDK's standard retries (throttling and 5xx, with backoff and jitter). */
export function createKmsClient(options: KmsClientOptions = {}): KMSClient {
  return new KMSClient({
    region:
      options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    maxAttempts: options.maxAttempts ?? 3,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}
