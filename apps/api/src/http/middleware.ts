import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { isAdminToken, type Principal, type Role } from '../auth/api-keys';
import type { Services } from '../services';
import type { AppEnv } from './env';
import { renderError } from './errors';
import { JSON_REQUEST_TYPE } from './json-body';
import { ApiError } from './problem';

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Attaches services, a request id (the caller's when sane) and a child logger; logs the outcome. */
export function requestContext(services: Services): MiddlewareHandler<AppEnv> {
  return createMiddleware<AppEnv>(async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('services', services);
    c.set('logger', services.logger.child({ requestId }));
    c.header('x-request-id', requestId);
    const started = performance.now();
    await next();
    // Shutting down: tell keep-alive clients not to send their next request here.
    if (services.state.shuttingDown) c.header('connection', 'close');
    const principal = c.get('principal') as Principal | undefined;
    services.metrics.httpRequests.inc({
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
    });
    // Method, route, status and who: never headers, bodies, keys or tokens, nor the path
    // itself, whose parameters are receipt fields (ids, orderId).
    c.get('logger').info(
      {
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ...(principal ? { merchantId: principal.merchantId, role: principal.role } : {}),
      },
      'request',
    );
  });
}

/**
 * The token of `Authorization: Bearer <token>`: the scheme in any case (RFC 9110 §11.1), one
 * or more spaces after it (§11.4's `1*SP`).
 */
function bearer(c: Context): string | null {
  const header = c.req.header('authorization');
  // `i` loosens only the scheme: the token's class already holds both cases, and the token
  // itself is compared exactly by whoever checks it.
  const match = header ? /^bearer +([\x21-\x7e]+)$/i.exec(header) : null;
  return match ? (match[1] as string) : null;
}

/**
 * 401 with its challenge (RFC 6750 §3): the realm names which credential the path takes, and
 * `invalid_token` is said only when a bearer token was sent (none, or another scheme, gets no
 * error code, §3.1).
 */
function unauthorized(c: Context, realm: string, detail: string): ApiError {
  const sent = bearer(c) !== null;
  return new ApiError('unauthorized', detail, undefined, {
    challenge: `Bearer realm="${realm}"${sent ? ', error="invalid_token"' : ''}`,
  });
}

/** API keys of SPEC §8: missing, garbled, unknown or revoked keys get 401. */
export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  const presented = bearer(c);
  if (!presented) throw unauthorized(c, API_REALM, 'send Authorization: Bearer <api key>');
  const principal = await c.get('services').apiKeys.authenticate(presented);
  if (!principal) throw unauthorized(c, API_REALM, 'the API key is not valid');
  c.set('principal', principal);
  await next();
});

/** The admin API's bearer token (QUITTANCE_ADMIN_TOKEN or the generated one). */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const presented = bearer(c);
  if (!presented || !isAdminToken(presented, c.get('services').admin.token)) {
    throw unauthorized(c, ADMIN_REALM, 'send Authorization: Bearer <admin token>');
  }
  await next();
});

const API_REALM = 'quittance';
const ADMIN_REALM = 'quittance-admin';

/**
 * Guards an action (not a read of a resource, which answers 404 instead) by role. A route
 * middleware, so that it runs before the body is read: a key of another role gets its 403
 * without being sent `100 Continue` for a body nothing would read.
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return createMiddleware<AppEnv>(async (c, next) => {
    const { role } = c.get('principal');
    if (!roles.includes(role)) {
      throw new ApiError(
        'forbidden',
        `${role} keys may not do this; it needs ${roles.join(' or ')}`,
      );
    }
    await next();
  });
}

/**
 * JSON bodies only (`application/json` or `application/…+json`, as the routes' validator
 * takes them: {@link JSON_REQUEST_TYPE}): anything else is 415 before the body is read. Put
 * on every route that declares a JSON body by `createRouter` (router.ts).
 */
export const requireJson = createMiddleware<AppEnv>(async (c, next) => {
  const type = c.req.header('content-type');
  if (!JSON_REQUEST_TYPE.test(type ?? '')) {
    throw new ApiError(
      'unsupported_media_type',
      `Content-Type is ${JSON.stringify(type ?? '')}: it must be application/json or application/<letters, dots, dashes>+json, its parameters written as RFC 9110 §5.6.6 writes them`,
    );
  }
  await next();
});

/**
 * Every API answer within the request budget: a request whose work is still waiting then (a
 * database being reconnected to, a slow signer) gets 503 with Retry-After instead of a hang.
 * The work itself is not abandoned (work still queued for a slot gives up: `deadline`); an
 * issue that commits afterwards is found again by retrying with the same callId (200, the
 * same receipt). The budget is the work's, not the upload's: it pauses while the body
 * arrives (a body reader calls `bodyStarted`, then `bodyArrived`) and counts the rest, before
 * and after. It used to start again at the body's last byte, so work before the body was read
 * (authentication waiting on a database being reconnected to) came on top: answers at 8–9 s
 * of a 5 s budget (an outside check).
 * A slow client has the request timeout to send its whole request (QUITTANCE_REQUEST_TIMEOUT_MS,
 * 30 s), after which Node cuts it off with 408 (client-errors.ts); it used to get 408 at the
 * budget's 5 s, which a 1 MB body on a slow link could not meet, against what the timeout's
 * setting says.
 */
export function requestBudget(budgetMs: number): MiddlewareHandler<AppEnv> {
  return createMiddleware<AppEnv>(async (c, next) => {
    let timer: NodeJS.Timeout | undefined;
    // Made only for the few routes that ask (an AbortController costs a few µs a request).
    let deadline: AbortController | undefined;
    let expiredAlready = false;
    let finished = false;
    c.set('deadline', () => {
      deadline ??= new AbortController();
      if (expiredAlready) deadline.abort();
      return deadline.signal;
    });
    const expired = new Promise<true>((resolve) => {
      const expire = () => {
        expiredAlready = true;
        deadline?.abort();
        resolve(true);
      };
      // The work's time spent before the body was read (authentication, which may wait for
      // the database) counts: only the wait for the body itself is left out of the budget
      // (paused, its timer cleared, while the body arrives).
      let spent = 0;
      let since = performance.now();
      let paused = false;
      const pause = () => {
        if (paused) return;
        paused = true;
        spent += performance.now() - since;
        clearTimeout(timer);
      };
      const start = () => {
        paused = false;
        since = performance.now();
        clearTimeout(timer);
        if (!finished) timer = setTimeout(expire, Math.max(0, budgetMs - spent));
      };
      c.set('bodyStarted', pause);
      c.set('bodyArrived', start);
      start();
    });
    try {
      const late = await Promise.race([next().then(() => false), expired]);
      if (late) {
        c.res = renderError(
          new ApiError(
            'service_unavailable',
            `the request did not finish within ${budgetMs} ms; retry (an issue with the same callId is idempotent)`,
            undefined,
            { retryAfterSeconds: 1 },
          ),
          c,
        );
      }
    } finally {
      finished = true;
      clearTimeout(timer);
    }
  });
}
