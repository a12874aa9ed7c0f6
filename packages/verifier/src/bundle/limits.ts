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
 * Lines of one JSON Lines file that are not what the file holds (not JSON, not a receipt with
 * its chain envelope, not a chain entry, naming no receipt) after which the rest of the file
 * is not read: the bundle is refuted by then, and 1.5 GiB of three-byte lines would otherwise
 * keep the verifier busy for hours. Legitimate bundles have none.
 */
export const MAX_UNUSABLE_LINES = 10_000;

/**
 * Counts a file's unusable lines: each call counts one, and past {@link MAX_UNUSABLE_LINES}
 * answers the problem that says the rest of the file is not read.
 */
export function unusableLines(file: string, what: string): () => string | undefined {
  let count = 0;
  return () =>
    ++count > MAX_UNUSABLE_LINES
      ? `${file}: more than ${MAX_UNUSABLE_LINES.toLocaleString('en')} lines are not ${what}; the rest of the file was not read`
      : undefined;
}

export const formatBytes = (bytes: number) =>
  bytes >= GiB
    ? `${+(bytes / GiB).toFixed(2)} GiB`
    : bytes >= MiB
      ? `${+(bytes / MiB).toFixed(2)} MiB`
      : `${bytes} bytes`;
