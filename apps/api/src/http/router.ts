import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { FieldIssue, FieldIssueCode } from '@quittance/format';
import { createMiddleware } from 'hono/factory';
import type { ZodError } from 'zod';
import type { AppEnv } from './env';
import { isJsonType, readBody, routeBody } from './json-body';
import { requireJson } from './middleware';
import { ApiError } from './problem';
import { NoQuery, problems } from './schemas';

const ZOD_CODES: Record<string, FieldIssueCode> = {
  too_big: 'too_long',
  too_small: 'too_short',
  invalid_format: 'invalid_format',
  invalid_value: 'invalid_format',
  unrecognized_keys: 'unknown_member',
  invalid_type: 'invalid_type',
};

/** Zod issues as the API reports them: JSON-pointer paths and the format package's codes. */
export function toFieldIssues(error: ZodError): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.length ? `/${issue.path.map(String).join('/')}` : '';
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({
          path: `${path}/${key}`,
          code: 'unknown_member',
          message: `${key} is not allowed`,
        });
      }
      continue;
    }
    let code: FieldIssueCode = ZOD_CODES[issue.code] ?? 'invalid_format';
    if (issue.code === 'custom')
      code = (issue.params as { code?: FieldIssueCode } | undefined)?.code ?? 'invalid_format';
    if (issue.code === 'invalid_type' && /received undefined/.test(issue.message))
      code = 'required';
    issues.push({ path, code, message: `${path.slice(1) || 'body'}: ${issue.message}` });
  }
  return issues;
}

/** 400 `invalid_request` listing every issue of a failed validation. */
function invalidRequest(error: ZodError): ApiError {
  const issues = toFieldIssues(error);
  return new ApiError('invalid_request', issues.map((i) => i.message).join('; '), issues);
}

/**
 * Every route file makes its router here, so validation failures all become problem+json.
 * What a route does not declare, it refuses: query parameters (400 `unknown_member`, as the
 * lists refuse what they do not know; a typo such as `?limt=` is never ignored) and, for a
 * method that may carry one, a body other than none or `{}` ({@link takesNoBody}). An outside
 * check found both ignored on the routes that declared neither. `lenient` is for the
 * operational endpoints, which probes and scrapers may call with query strings of their own.
 */
export function createRouter(options: { lenient?: boolean } = {}) {
  const router = newRouter();
  if (options.lenient) return router;
  const openapi = router.openapi;
  router.openapi = ((route: RouteConfig, ...rest: unknown[]) =>
    (openapi as (...args: unknown[]) => unknown)(strict(route), ...rest)) as typeof openapi;
  return router;
}

const METHODS_WITH_BODY = new Set(['post', 'put', 'patch', 'delete']);

/**
 * A route that declares no body (a rotation, a revocation of an API key) takes none, or `{}`
 * as JSON (an empty object says nothing): any other body is refused as the routes that take
 * one refuse what they do not know, 400 `invalid_request` naming each member, and a body of
 * another type is 415. Both were ignored: `{"x":1}` rotated the key, as a text body did.
 */
const takesNoBody = createMiddleware<AppEnv>(async (c, next) => {
  // A request without Content-Length or Transfer-Encoding has no body on the wire (RFC 9112
  // §6.3); through app.request() it has neither header either way, so the body is read.
  if (c.req.header('content-length') === '0') return next();
  if ((await readBody(c)).byteLength === 0) return next();
  if (!isJsonType(c.req.header('content-type')))
    throw new ApiError(
      'unsupported_media_type',
      'this route takes no body: send none, or {} as application/json',
    );
  // Parsed already (routeBody); nothing but {} passes the empty strict object.
  const parsed = NoQuery.safeParse(await c.req.json());
  if (!parsed.success) throw invalidRequest(parsed.error);
  return next();
});

/**
 * The route with what it refuses, in its OpenAPI responses too (a route's own come first),
 * its body read after its own middleware ({@link routeBody}), and a body of another media
 * type than the JSON it declares refused before that (415, `requireJson`): the admin routes
 * read theirs first, so `Expect: 100-continue` heard `100 Continue`, then 415.
 */
function strict(route: RouteConfig): RouteConfig {
  const request = route.request ?? {};
  const middleware = route.middleware === undefined ? [] : [route.middleware].flat();
  const mayHaveBody = METHODS_WITH_BODY.has(route.method);
  const noBody = mayHaveBody && !request.body;
  // GET and HEAD carry no body to read: their routes run without the reader.
  const reader = mayHaveBody ? [routeBody] : [];
  const mediaType = request.body?.content['application/json'] ? [requireJson] : [];
  return {
    ...route,
    request: { ...request, query: request.query ?? NoQuery },
    middleware: [...middleware, ...mediaType, ...reader, ...(noBody ? [takesNoBody] : [])],
    responses: { ...problems(...(noBody ? [400, 415] : [400])), ...route.responses },
  };
}

function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success && result.target === 'param') {
        // A path that names nothing that can exist: 404 like any unknown resource, never a
        // query (NUL bytes, stray characters) and never a hint about which rule failed.
        throw new ApiError('not_found', 'no such resource');
      }
      if (!result.success) throw invalidRequest(result.error as unknown as ZodError);
    },
  });
}
