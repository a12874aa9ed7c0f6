import { describe, expect, it } from 'vitest';
import { earliestGenTime, GEN_TIME_GRACE_MS, timestampImprint, toHex } from '../src';

// The signature segment and imprint of the committed OpenSSL TSA reply
// (packages/tsp/test/fixtures/openssl-tsa-expected.json and openssl-tsa-imprint.hex).
const signatureSegment =
  'x1pdv5sIK7YAb6hQ2Y3xRkOcNvXgkkxQpC2PZtZ6Hn0PqVrN9ZMcwMl7lGz2a0z8cF0K1X5JqkYpQyWkP3Lw8Dg';

describe('timestamp imprint (SPEC §4)', () => {
  it('is SHA-256 of the ASCII signature segment of a detached JWS', async () => {
    const jws = `eyJhbGciOiJFZERTQSJ9..${signatureSegment}`;
    expect(toHex(await timestampImprint(jws))).toBe(
      '9c20a2fad898da8026b8216d1dac78e4a65f211f78c27e4ffa6b52f3a3c49e30',
    );
  });

  it('is the same for the attached form: only the signature segment counts', async () => {
    const detached = await timestampImprint(`h..${signatureSegment}`);
    expect(await timestampImprint(`h.cGF5bG9hZA.${signatureSegment}`)).toEqual(detached);
    expect(await timestampImprint(`h..${signatureSegment}x`)).not.toEqual(detached);
  });

  it('genTime may precede createdAt by five minutes, no more', () => {
    expect(GEN_TIME_GRACE_MS).toBe(300_000);
    expect(earliestGenTime('2026-11-24T06:50:00.000Z').toISOString()).toBe(
      '2026-11-24T06:45:00.000Z',
    );
    expect(earliestGenTime(new Date('2026-11-24T06:50:00.000Z')).toISOString()).toBe(
      '2026-11-24T06:45:00.000Z',
    );
  });
});
