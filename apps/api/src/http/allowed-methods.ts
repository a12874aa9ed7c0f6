/** A route as hono's router table holds it: a method (ALL for middleware) and a path. */
export interface RouteShape {
  method: string;
  path: string;
}

/**
 * The methods that answer at a path, from the app's own routes (`app.routes`; `:param`
 * segments match any segment, middleware is left out): a known path asked with another
 * method is 405 with `Allow` (RFC 9110 §15.5.6), not 404. GET brings HEAD.
 */
export function methodsAt(routes: readonly RouteShape[]): (path: string) => string[] {
  const patterns = routes
    .filter((route) => route.method !== 'ALL')
    .map((route) => ({
      method: route.method,
      pattern: new RegExp(
        `^${route.path
          .split('/')
          .map((segment) => (segment.startsWith(':') ? '[^/]+' : escapeRegExp(segment)))
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
