const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID (48-bit millisecond time, 80 random bits) in Crockford base32. */
export function ulid(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let rest = '';
  for (const byte of random) rest += CROCKFORD[byte & 31];
  return time + rest;
}

/** Prefixed identifiers, e.g. `newId('trcpt')` → `trcpt_01J…`. */
export function newId(prefix: string, now?: number): string {
  return `${prefix}_${ulid(now)}`;
}
