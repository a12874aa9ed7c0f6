/**
 * How much of a bundle the verifier is willing to read. A bundle is hostile input: a zip
 * declares its own sizes, and deflate turns 2 MB into 2 GiB. Every byte is inflated under
 * these caps and streamed, never held whole, except the small files listed below.
 *
 * Sized for the largest legitimate bundle we expect: 100,000 timestamped receipts
 * (~4 KB each) with their bodies (the API accepts 1 MiB per request; typical bodies are a
 * few KB) is a few hundred MB inflated. An export larger than the caps is refused as
 * unreadable with a message that names the cap; callers may raise them.
 */
export interface BundleLimits {
  /** Largest inflated size of one entry, declared or actual. */
  maxEntryBytes: number;
  /** Sum of the entries' declared sizes, and of the bytes actually inflated from them. */
  maxTotalBytes: number;
  /** Number of entries in the central directory. */
  maxEntries: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const DEFAULT_LIMITS: Readonly<BundleLimits> = {
  maxEntryBytes: 1 * GiB,
  maxTotalBytes: 1.5 * GiB,
  maxEntries: 10_000,
};

/** Files read whole (not line by line): each has its own, much smaller, cap. */
export const WHOLE_FILE_BYTES = {
  manifest: 16 * MiB,
  manifestJws: 64 * 1024,
  /** A snapshot holds every key of every merchant of the service. */
  snapshot: 64 * MiB,
  /** A certificate is ~2 KB of PEM; a file is a certificate or a short chain. */
  tsaCertificate: 64 * 1024,
  /** log.json: at most 53 frontier hashes (one per bit of a safe integer), ~4 KB. */
  log: 64 * 1024,
} as const;

/**
 * TSA certificates taken from a bundle's `tsa/` (a real bundle holds a few): PEM blocks read
 * per file, and certificates kept in all. PEM parsing is a regular expression whose time
 * grows with the square of the number of BEGIN lines, so that number is bounded first.
 */
export const TSA_LIMITS = { blocksPerFile: 16, certificates: 256 } as const;

/** Longest line of a JSON Lines file; a longer one is refuted, not buffered. */
export const LINE_BYTES = {
  /** Receipts (signing input ≤ 4096 bytes plus envelope), chain entries, checkpoints. */
  record: 1 * MiB,
  /** A bodies.jsonl line: both bodies of one receipt. */
  bodies: 64 * MiB,
} as const;

/**
 * Deepest JSON nesting accepted anywhere in a bundle. JSON.parse copes with any depth, but
 * canonicalization, validation and structured cloning recurse; 1,000 is far beyond any real
 * document (a receipt's signed part is at most 4096 bytes of signing input) and far within
 * the stack.
 */
export const MAX_JSON_DEPTH = 1_000;

/** True when `text` nests arrays and objects deeper than `max` (strings are skipped). */
export function nestingExceeds(text: string, max: number = MAX_JSON_DEPTH): boolean {
  // Valid JSON nested deeper than `max` needs at least 2 × (max + 1) brackets.
  if (text.length <= 2 * max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** JSON text parsed with a depth limit: the value, or why it is not acceptable JSON. */
export function parseJson(
  text: string,
  max: number = MAX_JSON_DEPTH,
): { ok: true; value: unknown } | { ok: false; problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `is not JSON (${(error as Error).message})` };
  }
  if (nestingExceeds(text, max)) return { ok: false, problem: `nests deeper than ${max} levels` };
  return { ok: true, value };
}

/**
 * The first member name that occurs twice in one object of valid JSON `text`, if any.
 * JSON.parse keeps the last of duplicates where other parsers keep the first, so a signed
 * document with duplicates says different things to different verifiers (I-JSON, RFC 7493,
 * forbids them).
 */
export function duplicateMember(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      const members = stack[stack.length - 1];
      if (expectKey && members) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (members.has(key)) return key;
        members.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return undefined;
}

/** A JSON object (not an array, not null): what every bundle document and line must be. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, safe rendering of an untrusted value for a reason string (never throws). */
export function showValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null)
    return String(value);
  if (value === undefined) return 'nothing';
  return Array.isArray(value) ? 'an array' : 'an object';
}

export const formatBytes = (bytes: number) =>
  bytes >= GiB
    ? `${+(bytes / GiB).toFixed(2)} GiB`
    : bytes >= MiB
      ? `${+(bytes / MiB).toFixed(2)} MiB`
      : `${bytes} bytes`;
