/** The longest a client keeps anything on a service's word: a day. */
const MAX_CACHE_MS = 24 * 60 * 60 * 1000;

/** `max-age` of a Cache-Control value in ms; 0 when absent or when caching is refused. */
export function maxAgeMs(cacheControl: string | null): number {
  if (!cacheControl || /(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0;
  const seconds = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl)?.[1];
  return seconds ? Math.min(Number(seconds) * 1000, MAX_CACHE_MS) : 0;
}
