import { describe, expect, it } from 'vitest';
import { QuittanceClient } from '../src';

// What an outside agent developer got wrong, or was misled by, answered by a fetch of the
// test's own.
const problem = (status: number, code: string, retryAfter?: string) =>
  new Response(JSON.stringify({ type: 'about:blank', title: code, status, code, detail: code }), {
    status,
    headers: {
      'content-type': 'application/problem+json',
      ...(retryAfter ? { 'retry-after': retryAfter } : {}),
    },
  });

describe('what an agent gets wrong', () => {
  it('a baseUrl without a scheme is refused at once, not retried as a network error', () => {
    expect(() => new QuittanceClient({ baseUrl: '127.0.0.1:8787', apiKey: 'k' })).toThrow(
      RangeError,
    );
    expect(() => new QuittanceClient({ baseUrl: 'ftp://x.test', apiKey: 'k' })).toThrow(RangeError);
  });

  it('an order named "." or ".." is refused, not resolved to another route', async () => {
    let fetched = 0;
    const client = new QuittanceClient({
      baseUrl: 'http://quittance.test',
      apiKey: 'k',
      fetch: async () => {
        fetched++;
        return new Response('{}', { headers: { 'content-type': 'application/json' } });
      },
    });
    for (const order of ['.', '..']) {
      await expect(client.getOrderEvidence(order)).rejects.toMatchObject({
        code: 'invalid_request',
      });
      await expect(client.waitForOrderEvidence(order)).rejects.toMatchObject({
        code: 'invalid_request',
      });
      await expect(client.listByOrder(order)).rejects.toMatchObject({ code: 'invalid_request' });
    }
    expect(fetched).toBe(0);
    // Evidence that is not a zip is not handed on as one.
    await expect(client.getOrderEvidence('a')).rejects.toMatchObject({ code: 'invalid_response' });
  });

  it('a wait that runs out says what the service last said, not its own cut-short ask', async () => {
    const client = new QuittanceClient({
      baseUrl: 'http://quittance.test',
      apiKey: 'k',
      fetch: async (_input, init) => {
        // Answers after 150 ms, or not at all once the ask is aborted.
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, 150);
          init?.signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(init.signal?.reason);
          });
        });
        return problem(404, 'not_checkpointed', '1');
      },
    });
    const error = await client.waitForProof('trcpt_x', { timeoutMs: 400 }).catch((e) => e);
    expect(error).toMatchObject({ code: 'timeout', cause: { code: 'not_checkpointed' } });
  });
});
