/** A route as the OpenAPI registry holds it: a lower-case method and a `{param}` path. */
export interface RouteShape {
  method: string;
  path: string;
}

/**
 * The methods that answer at a path, from the routes' templates: a known path asked with
 * another method is 405 with `Allow` (RFC 9110 §15.5.6), not 404. GET brings HEAD.
 */
export function methodsAt(routes: readonly RouteShape[]): (path: string) => string[] {
  const patterns = routes.map((route) => ({
    method: route.method.toUpperCase(),
    pattern: new RegExp(
      `^${route.path
        .split('/')
        .map((segment) => (/^\{.+\}$/.test(segment) ? '[^/]+' : escapeRegExp(segment)))
        .join('/')}$`,
    ),
  }));
  return (path) => {
    const methods = new Set<string>();
    for (const { method, pattern } of patterns) {
      if (!pattern.test(path)) continue;
      methods.add(method);
      if (method === 'GET') methods.add('HEAD');
    }
    return [...methods].sort();
  };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
