import { describe, expect, it } from 'vitest';
import { bundleStoreFromEnv, parseS3Location } from '../src';

const config = (error: unknown) => error as { code: string; message: string };

async function refusal(env: Record<string, string>): Promise<{ code: string; message: string }> {
  try {
    await bundleStoreFromEnv(env, '/data');
  } catch (error) {
    return config(error);
  }
  throw new Error('expected invalid_config');
}

describe('bundleStoreFromEnv', () => {
  it('is the data folder when QUITTANCE_BUNDLE_STORE is unset or empty', async () => {
    expect((await bundleStoreFromEnv({}, '/data')).location).toBe('file:///data/exports');
    expect((await bundleStoreFromEnv({ QUITTANCE_BUNDLE_STORE: ' ' }, '/data')).location).toBe(
      'file:///data/exports',
    );
  });

  it('is S3 for s3://BUCKET/PREFIX, with or without a prefix', async () => {
    const store = await bundleStoreFromEnv(
      { QUITTANCE_BUNDLE_STORE: 's3://quittance-bundles/prod/exports/', AWS_REGION: 'eu-west-1' },
      '/data',
    );
    expect(store.location).toBe('s3://quittance-bundles/prod/exports/');
    expect(parseS3Location('s3://quittance-bundles')).toEqual({
      bucket: 'quittance-bundles',
      prefix: '',
    });
  });

  it('names the variable that is wrong', async () => {
    const s3 = { QUITTANCE_BUNDLE_STORE: 's3://quittance-bundles/x' };
    const cases: [Record<string, string>, RegExp][] = [
      [{ QUITTANCE_BUNDLE_STORE: 's3://Bad_Bucket/x' }, /^QUITTANCE_BUNDLE_STORE:/],
      [{ QUITTANCE_BUNDLE_STORE: '/var/lib/quittance' }, /^QUITTANCE_BUNDLE_STORE:/],
      [{ QUITTANCE_BUNDLE_STORE: 's3://bucket/../x' }, /^QUITTANCE_BUNDLE_STORE: prefix/],
      [{ ...s3, QUITTANCE_BUNDLE_STORE_SSE: 'aes' }, /^QUITTANCE_BUNDLE_STORE_SSE:/],
      [{ ...s3, QUITTANCE_BUNDLE_STORE_KMS_KEY_ID: 'k' }, /^QUITTANCE_BUNDLE_STORE_KMS_KEY_ID/],
      [{ ...s3, QUITTANCE_BUNDLE_URL_TTL_S: '0' }, /^QUITTANCE_BUNDLE_URL_TTL_S:/],
      [{ ...s3, QUITTANCE_BUNDLE_URL_TTL_S: '604801' }, /^QUITTANCE_BUNDLE_URL_TTL_S:/],
      [{ ...s3, QUITTANCE_S3_TIMEOUT_MS: 'soon' }, /^QUITTANCE_S3_TIMEOUT_MS:/],
      [{ ...s3, QUITTANCE_S3_TIMEOUT_MS: '0x10' }, /^QUITTANCE_S3_TIMEOUT_MS:/],
      [{ ...s3, QUITTANCE_S3_CONNECT_TIMEOUT_MS: '99999999999' }, /^QUITTANCE_S3_CONNECT_TIMEOUT/],
      [{ ...s3, QUITTANCE_S3_MAX_ATTEMPTS: ' 3' }, /^QUITTANCE_S3_MAX_ATTEMPTS:/],
      [{ ...s3, QUITTANCE_BUNDLE_URL_TTL_S: '1e3' }, /^QUITTANCE_BUNDLE_URL_TTL_S:/],
      [{ ...s3, AWS_ENDPOINT_URL_S3: 'minio:9000' }, /^AWS_ENDPOINT_URL_S3:/],
    ];
    for (const [env, message] of cases) {
      const error = await refusal(env);
      expect(error.code).toBe('invalid_config');
      expect(error.message).toMatch(message);
    }
  });

  it('accepts SSE-KMS with a key', async () => {
    const store = await bundleStoreFromEnv(
      {
        QUITTANCE_BUNDLE_STORE: 's3://quittance-bundles',
        QUITTANCE_BUNDLE_STORE_SSE: 'aws:kms',
        QUITTANCE_BUNDLE_STORE_KMS_KEY_ID: 'alias/quittance-bundles',
      },
      '/data',
    );
    expect(store.location).toBe('s3://quittance-bundles/');
  });
});
