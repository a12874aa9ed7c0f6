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
