import { platform } from '#platform';
import type { ZipReader } from '../zip/zip-reader';
import { parseJson } from './json';
import { formatBytes, MAX_UNUSABLE_LINES } from './limits';

/** One line of a JSON Lines file: its text, or why it cannot be read (too long, not UTF-8). */
export type Line =
  | { n: number; text: string; problem?: undefined }
  | { n: number; problem: string };

/** Size and SHA-256 of an entry as read: what files_intact compares with the manifest. */
export interface EntryDigest {
  bytes: number;
  sha256: string;
}

/**
 * The entries of a bundle as the steps read them: whole (small files) or line by line, each
 * hashed as it streams on its first read. Memory stays flat: only whole files and the line
 * being read are held. Reading throws only BundleError (the zip cannot be read) or the abort
 * signal's reason; what the bytes say is for the steps to judge.
 */
export class BundleContents {
  /** Size and SHA-256 of every entry read so far. */
  readonly read = new Map<string, EntryDigest>();

  constructor(
    readonly zip: ZipReader,
    private readonly signal?: AbortSignal,
  ) {}

  has(name: string): boolean {
    return this.zip.entries.has(name);
  }

  names(): string[] {
    return [...this.zip.entries.keys()];
  }

  /** The entry's bytes as they stream, hashed on the way the first time it is read. */
  async *chunks(name: string): AsyncGenerator<Uint8Array> {
    const hash = this.read.has(name) ? undefined : platform.sha256();
    let bytes = 0;
    for await (const chunk of this.zip.chunks(name)) {
      this.signal?.throwIfAborted();
      hash?.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
    if (hash) this.read.set(name, { bytes, sha256: hash.hex() });
  }

  /**
   * A whole file, or undefined when it is larger than `max` (it is still hashed to the end,
   * for files_intact, but not kept).
   */
  async bytes(name: string, max: number): Promise<Uint8Array | undefined> {
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for await (const chunk of this.chunks(name)) {
      bytes += chunk.length;
      if (bytes <= max) parts.push(chunk);
    }
    return bytes <= max ? concat(parts, bytes) : undefined;
  }

  /** A whole file as text (invalid UTF-8 replaced, a BOM kept), or undefined past `max`. */
  async text(name: string, max: number): Promise<string | undefined> {
    const data = await this.bytes(name, max);
    return data && new TextDecoder('utf-8', { ignoreBOM: true }).decode(data);
  }

  /**
   * Lines of a JSON Lines file. A line longer than `maxLine` is reported (and skipped), never
   * buffered; blank lines are skipped, up to {@link MAX_UNUSABLE_LINES} of them (the next is a
   * problem, and the last line read); nothing when the file is absent.
   */
  async *lines(name: string, maxLine: number): AsyncGenerator<Line> {
    if (!this.has(name)) return;
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let n = 0;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let overLong = false;
    let blank = 0;
    const tooLong = (at: number): Line => ({
      n: at,
      problem: `is longer than ${formatBytes(maxLine)}`,
    });
    const decode = (bytes: Uint8Array): Line | undefined => {
      this.signal?.throwIfAborted(); // a step may work long on each line (a receipt's checks)
      if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0x0d)) return undefined;
      try {
        return { n, text: decoder.decode(bytes) };
      } catch {
        return { n, problem: 'is not UTF-8' };
      }
    };
    for await (const chunk of this.chunks(name)) {
      let start = 0;
      for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, end);
        start = end + 1;
        n++;
        if (overLong) {
          overLong = false; // the end of a line already reported
          continue;
        }
        if (pendingBytes + piece.length > maxLine) {
          pending = [];
          pendingBytes = 0;
          yield tooLong(n);
          continue;
        }
        const line = decode(pendingBytes ? concat([...pending, piece]) : piece);
        pending = [];
        pendingBytes = 0;
        if (line) yield line;
        else if (++blank > MAX_UNUSABLE_LINES) {
          // A gigabyte of newlines would take minutes to skip one by one.
          yield {
            n,
            problem: `is blank, past ${MAX_UNUSABLE_LINES.toLocaleString('en')} blank lines; the rest of the file was not read`,
          };
          return;
        }
      }
      if (start < chunk.length && !overLong) {
        const rest = chunk.subarray(start);
        if (pendingBytes + rest.length > maxLine) {
          pending = [];
          pendingBytes = 0;
          overLong = true;
          yield tooLong(n + 1);
        } else {
          pending.push(rest);
          pendingBytes += rest.length;
        }
      }
    }
    if (pendingBytes && !overLong) {
      n++;
      const line = decode(concat(pending));
      if (line) yield line;
    }
  }

  /** Hashes, streaming, every entry nobody read, except those named. */
  async readTheRest(except: readonly string[]): Promise<void> {
    for (const name of this.names())
      if (!this.read.has(name) && !except.includes(name)) for await (const _ of this.chunks(name));
  }
}

function concat(parts: Uint8Array[], total = parts.reduce((sum, p) => sum + p.length, 0)) {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A line's JSON value, or why it has none. */
export const parseLine = (line: Line): ReturnType<typeof parseJson> =>
  line.problem === undefined ? parseJson(line.text) : { ok: false, problem: line.problem };
