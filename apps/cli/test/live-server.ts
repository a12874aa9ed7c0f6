import type { IncomingMessage, ServerResponse } from 'node:http';
import { bin, run } from './cli-bin';

/** The admin token of the servers the CLI's tests start. */
export const ADMIN = 'test-admin-token-0123456789abcdef';

/**
 * POST of JSON to the server `base()` names (read at each call: tests restart servers), with
 * `key` as bearer, the admin token when not given; the answer's JSON.
 */
export function poster(base: () => string) {
  return async (path: string, body: unknown, key = ADMIN) => {
    const r = await fetch(`${base()}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return r.json();
  };
}

/** The issue request of the monitor tests' receipts; `input` tells them apart. */
export function smallReceipt(callId: string, input: Record<string, unknown>) {
  return {
    callId,
    agentId: 'agent-1',
    bucket: 'checkout',
    tool: 'complete_checkout',
    input,
    output: { ok: true },
  };
}

/** `quittance monitor --once --json`, whatever its exit: the status, stdout and stderr. */
export async function monitorOnce(options: {
  url: string;
  key: string;
  publisher: string;
  state: string;
}): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ['monitor', '--url', options.url, '--key', options.key];
  args.push('--publisher', options.publisher, '--state', options.state, '--once', '--json');
  try {
    const { stdout, stderr } = await run(bin, args, { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

/** A proxy's answer: `path` asked of the server at `base` with the request's key, as answered. */
export async function forward(
  base: string,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const answer = await fetch(`${base}${path}`, {
    headers: { authorization: req.headers.authorization ?? '' },
  });
  res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' });
  res.end(Buffer.from(await answer.arrayBuffer()));
}
