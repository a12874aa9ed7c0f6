import { createKmsClient } from '@quittance/signer';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, unknownVariables } from '../src/config';

/**
 * Numbers in the environment are decimal digits, or start-up stops naming the variable
 * (found by probing): coercion read "0x10" as 16 and an empty PORT as 0 (a random port),
 * and an interval past a Node timer's limit fired at once, in a loop.
 */
describe('numbers in the environment', () => {
  it.each([
    ['PORT', '0x10'],
    ['PORT', ' 5'],
    ['PORT', '1.5'],
    ['PORT', '-1'],
    ['PORT', '70000'],
    ['QUITTANCE_DB_POOL', '1e1'],
    ['QUITTANCE_CHECKPOINT_INTERVAL_S', '1e3'],
    ['QUITTANCE_CHECKPOINT_INTERVAL_S', '0'],
    ['QUITTANCE_SWEEP_INTERVAL_MS', '3000000000'],
    ['QUITTANCE_EXPORT_LEASE_S', '2147484'],
    ['QUITTANCE_REQUEST_BUDGET_MS', '5ms'],
  ])('%s=%j stops start-up, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(
      new RegExp(`^invalid environment:\\n  ${name}: `),
    );
  });

  it('empty is unset; decimal digits are read as written, a fraction where one is allowed', () => {
    expect(loadConfig({ PORT: '' }).port).toBe(8787);
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080);
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ QUITTANCE_CHECKPOINT_INTERVAL_S: '0.5' }).checkpointIntervalMs).toBe(500);
    expect(loadConfig({ QUITTANCE_SWEEP_INTERVAL_MS: '2147483647' }).sweepIntervalMs).toBe(
      2147483647,
    );
  });
});

describe('other settings that would start a service nobody meant', () => {
  it.each([
    ['REDIS_URL', 'notaurl', /must be a redis:\/\/ or rediss:\/\/ URL/],
    ['REDIS_URL', 'redis://127.0.0.1:6379', /REDIS_URL: needs DATABASE_URL/],
    ['QUITTANCE_TSA_URL', 'garbage', /must be an http:\/\/ or https:\/\/ URL/],
    ['QUITTANCE_ADMIN_TOKEN', 'correct horse battery staple now', /sent as a Bearer token/],
    ['QUITTANCE_ADMIN_TOKEN', `${'a'.repeat(24)}\nb`, /sent as a Bearer token/],
    ['DATABASE_URL', 'notaurl', /DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ['DATABASE_URL', 'mysql://127.0.0.1/db', /DATABASE_URL: must be a postgres/],
    ['QUITTANCE_PUBLIC_URL', 'ftp://x', /QUITTANCE_PUBLIC_URL: not an absolute http/],
  ])('%s=%j stops start-up', (name, value, message) => {
    expect(() => loadConfig({ [name]: value, QUITTANCE_TSA_TRUST: '/tsa.pem' })).toThrow(message);
  });

  it('an empty HOST or QUITTANCE_DATA_DIR is unset, not every interface or the current folder', () => {
    const config = loadConfig({ HOST: '', QUITTANCE_DATA_DIR: '' });
    expect(config.host).toBe('127.0.0.1');
    expect(config.dataDir).toMatch(/\/\.quittance$/);
  });

  afterEach(() => {
    delete process.env.QUITTANCE_KMS_TIMEOUT_MS;
  });
  it.each(['5ms', '0x10', '99999999999'])(
    'QUITTANCE_KMS_TIMEOUT_MS=%s stops the KMS client, naming the variable',
    async (value) => {
      process.env.QUITTANCE_KMS_TIMEOUT_MS = value;
      await expect(createKmsClient()).rejects.toThrow(
        /^invalid environment: QUITTANCE_KMS_TIMEOUT_MS: /,
      );
    },
  );
});

it('names the QUITTANCE_ variables nothing reads (a typo leaves the default in force)', () => {
  expect(
    unknownVariables({
      QUITTANCE_DB_POOOL: '4',
      QUITTANCE_DB_POOL: '4',
      QUITTANCE_S3_TIMEOUT_MS: '1000',
      QUITTANCE_ADMIN_TOKNE: 'x',
      PATH: '/bin',
    }),
  ).toEqual(['QUITTANCE_ADMIN_TOKNE', 'QUITTANCE_DB_POOOL']);
});
