const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let offset = 0;

/**
 * Cryptographically random bytes, taken from a pool refilled 4 KiB at a time: one call into
 * the system's generator per ~250 ids instead of one per id. Each byte is handed out once.
 */
export function randomBytes(length: number): Uint8Array {
  if (length > POOL_BYTES) return globalThis.crypto.getRandomValues(new Uint8Array(length));
  if (offset + length > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_BYTES));
    offset = 0;
  }
  const out = pool.slice(offset, offset + length);
  offset += length;
  return out;
}

/** A ULID (48-bit millisecond time, 80 random bits) in Crockford base32. */
export function ulid(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let rest = '';
  for (const byte of random) rest += CROCKFORD[byte & 31];
  return time + rest;
}

/** Prefixed identifiers, e.g. `newId('trcpt')` → `trcpt_01J…`. */
export function newId(prefix: string, now?: number): string {
  return `${prefix}_${ulid(now)}`;
}
