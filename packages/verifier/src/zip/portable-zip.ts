import { BundleError } from '../bundle/errors';
import { messageOf } from '../bundle/json';
import type { BundleLimits } from '../bundle/limits';
import { CP437 } from './cp437';
import { inflateRaw } from './inflate';
import {
  DeclaredSizes,
  declaredEntryCount,
  InflationBudget,
  type ZipEntryInfo,
  type ZipReader,
} from './zip-reader';

/** Random access to the bytes of a zip: a Blob (a dropped File) or bytes already in memory. */
export interface ByteSource {
  readonly size: number;
  /** Up to `length` bytes from `offset` (fewer only at the end of the source). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function byteSourceOf(input: Blob | Uint8Array): ByteSource {
  if (input instanceof Uint8Array)
    return {
      size: input.length,
      read: async (offset, length) => input.subarray(offset, offset + length),
    };
  return {
    size: input.size,
    read: async (offset, length) =>
      new Uint8Array(await input.slice(offset, offset + length).arrayBuffer()),
  };
}

/** Compressed bytes read from the source at once, and handed to the inflater at once. */
const READ_BYTES = 1024 * 1024;
/** Deflate expands at most ~1032 times: 16 KiB in gives at most ~16.5 MiB out per step. */
const INFLATE_STEP = 16 * 1024;

interface CentralEntry {
  name: string;
  nameRaw: Uint8Array;
  flags: number;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
  /** Where its compressed data starts, from its local header. */
  dataStart: number;
}

/** A problem of the zip's structure, worded as yauzl words it (both readers say the same). */
class ZipFormatError extends Error {}

/**
 * A zip read with no help from Node: the central directory and local headers parsed here
 * (PKWARE APPNOTE 4.3, ZIP64 included), entries inflated by the platform's zlib in small
 * steps so that memory stays flat whatever an entry inflates to. It accepts and refuses what
 * the Node reader (yauzl) accepts and refuses, so a bundle gets the same verdict in a browser
 * and in the CLI.
 */
export class PortableZipReader implements ZipReader {
  readonly entries: ReadonlyMap<string, ZipEntryInfo>;
  readonly #byName: ReadonlyMap<string, CentralEntry>;
  readonly #budget: InflationBudget;

  private constructor(
    private readonly source: ByteSource,
    byName: Map<string, CentralEntry>,
    readonly duplicates: readonly string[],
    readonly disagreements: readonly string[],
    limits: BundleLimits,
  ) {
    this.#byName = byName;
    this.entries = new Map(
      [...byName].map(([name, entry]) => [name, { name, declaredBytes: entry.uncompressedSize }]),
    );
    this.#budget = new InflationBudget(limits);
  }

  /**
   * Reads the central directory of the zip in `input`. `label` names it in messages (a file
   * name). Throws {@link BundleError} when it is not a readable zip or declares too much.
   */
  static async open(
    input: Blob | Uint8Array | ByteSource,
    label: string,
    limits: BundleLimits,
  ): Promise<PortableZipReader> {
    const source =
      input instanceof Uint8Array || (typeof Blob !== 'undefined' && input instanceof Blob)
        ? byteSourceOf(input)
        : (input as ByteSource);
    let directory: { entryCount: number; offset: number };
    try {
      directory = await endOfCentralDirectory(source);
    } catch (error) {
      throw unreadable(`${label} is not a readable zip: ${messageOf(error)}`, error);
    }
    const tooMany = declaredEntryCount(directory.entryCount, limits);
    if (tooMany) throw new BundleError('too_large', `${label}: ${tooMany}`);
    const declared = new DeclaredSizes(label, limits);
    const all: CentralEntry[] = [];
    const byName = new Map<string, CentralEntry>();
    const duplicates: string[] = [];
    const disagreements: string[] = [];
    try {
      let cursor = directory.offset;
      for (let i = 0; i < directory.entryCount; i++) {
        const { entry, next } = await centralEntry(source, cursor);
        cursor = next;
        declared.check({
          name: entry.name,
          uncompressedSize: entry.uncompressedSize,
          compressionMethod: entry.method,
          encrypted: (entry.flags & 1) !== 0,
        });
        all.push(entry);
        if (!entry.name.endsWith('/')) {
          if (byName.has(entry.name)) duplicates.push(entry.name);
          byName.set(entry.name, entry);
        }
      }
      for (const entry of all) {
        const disagreement = await readLocalHeader(source, entry);
        if (disagreement) disagreements.push(disagreement);
      }
    } catch (error) {
      if (error instanceof BundleError) throw error;
      throw unreadable(`${label}: not a readable zip: ${messageOf(error)}`, error);
    }
    return new PortableZipReader(source, byName, duplicates, disagreements, limits);
  }

  async *chunks(name: string): AsyncGenerator<Uint8Array> {
    const entry = this.#byName.get(name);
    if (!entry) throw new BundleError('unreadable', `${name} is not in the bundle`);
    const count = this.#budget.reading(name);
    let produced = 0;
    // yauzl's check of the declared size (validateEntrySizes), with its words.
    const checked = (chunk: Uint8Array) => {
      produced += chunk.length;
      if (produced > entry.uncompressedSize)
        throw new ZipFormatError(
          `too many bytes in the stream. expected ${entry.uncompressedSize}. got at least ${produced}`,
        );
      count(chunk.length);
      return chunk;
    };
    try {
      if (entry.method === 0) {
        for await (const slice of this.#compressed(entry)) {
          count(slice.length);
          yield slice;
        }
        return;
      }
      for await (const chunk of inflateRaw(() => this.#compressed(entry), INFLATE_STEP))
        yield checked(chunk);
      if (produced < entry.uncompressedSize)
        throw new ZipFormatError(
          `not enough bytes in the stream. expected ${entry.uncompressedSize}. got only ${produced}`,
        );
    } catch (error) {
      if (error instanceof BundleError) throw error;
      throw unreadable(`${name} cannot be inflated: ${messageOf(error)}`, error);
    }
  }

  /** The entry's compressed bytes, in slices of at most {@link READ_BYTES}. */
  async *#compressed(entry: CentralEntry): AsyncGenerator<Uint8Array> {
    const end = entry.dataStart + entry.compressedSize;
    for (let at = entry.dataStart; at < end; at += READ_BYTES) {
      const length = Math.min(READ_BYTES, end - at);
      yield await readExactly(this.source, at, length);
    }
  }

  close(): void {}
}

const unreadable = (message: string, cause: unknown) =>
  new BundleError('unreadable', message, { cause });

/** `length` bytes at `offset`, or yauzl's "unexpected EOF". */
async function readExactly(source: ByteSource, offset: number, length: number) {
  const bytes = length === 0 ? new Uint8Array(0) : await source.read(offset, length);
  if (bytes.length !== length) throw new ZipFormatError('unexpected EOF');
  return bytes;
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
const u64 = (data: DataView, at: number) =>
  data.getUint32(at, true) + data.getUint32(at + 4, true) * 0x100000000;

/** The end of central directory record (ZIP64 when it has a locator), searched as yauzl does. */
async function endOfCentralDirectory(source: ByteSource) {
  const size = source.size;
  const bufferSize = Math.min(20 + 22 + 0xffff, size);
  const buffer = await readExactly(source, size - bufferSize, bufferSize);
  const data = view(buffer);
  for (let i = bufferSize - 22; i >= 0; i--) {
    if (data.getUint32(i, true) !== 0x06054b50) continue;
    let diskNumber = data.getUint16(i + 4, true);
    let entryCount = data.getUint16(i + 10, true);
    let offset = data.getUint32(i + 16, true);
    const commentLength = data.getUint16(i + 20, true);
    const expected = bufferSize - i - 22;
    if (commentLength !== expected)
      throw new ZipFormatError(
        `Invalid comment length. Expected: ${expected}. Found: ${commentLength}. Are there extra bytes at the end of the file? Or is the end of central dir signature \`PK☺☻\` in the comment?`,
      );
    if (i - 20 >= 0 && data.getUint32(i - 20, true) === 0x07064b50) {
      const record = view(await readExactly(source, u64(data, i - 20 + 8), 56));
      if (record.getUint32(0, true) !== 0x06064b50)
        throw new ZipFormatError('invalid zip64 end of central directory record signature');
      diskNumber = record.getUint32(16, true);
      entryCount = u64(record, 32);
      offset = u64(record, 48);
    }
    if (diskNumber !== 0)
      throw new ZipFormatError(
        `multi-disk zip files are not supported: found disk number: ${diskNumber}`,
      );
    return { entryCount, offset };
  }
  throw new ZipFormatError(
    'End of central directory record signature not found. Either not a zip file, or file is truncated.',
  );
}

/** One central directory record at `at`, checked as yauzl checks it. */
async function centralEntry(
  source: ByteSource,
  at: number,
): Promise<{ entry: CentralEntry; next: number }> {
  const head = view(await readExactly(source, at, 46));
  const signature = head.getUint32(0, true);
  if (signature !== 0x02014b50)
    throw new ZipFormatError(
      `invalid central directory file header signature: 0x${signature.toString(16)}`,
    );
  const flags = head.getUint16(8, true);
  const method = head.getUint16(10, true);
  let compressedSize = head.getUint32(20, true);
  let uncompressedSize = head.getUint32(24, true);
  const nameLength = head.getUint16(28, true);
  const extraLength = head.getUint16(30, true);
  const commentLength = head.getUint16(32, true);
  let localOffset = head.getUint32(42, true);
  if (flags & 0x40) throw new ZipFormatError('strong encryption is not supported');
  const rest = await readExactly(source, at + 46, nameLength + extraLength + commentLength);
  const nameRaw = rest.subarray(0, nameLength);
  const extras = extraFields(rest.subarray(nameLength, nameLength + extraLength));
  const name = fileNameOf(flags, nameRaw, extras);
  const invalid = fileNameProblem(name);
  if (invalid) throw new ZipFormatError(invalid);
  const zip64 = extras.find((field) => field.id === 0x0001);
  if (zip64) {
    const data = view(zip64.data);
    let index = 0;
    const take = (what: string) => {
      if (index + 8 > zip64.data.length)
        throw new ZipFormatError(`zip64 extended information extra field does not include ${what}`);
      const value = u64(data, index);
      index += 8;
      return value;
    };
    if (uncompressedSize === 0xffffffff) uncompressedSize = take('uncompressed size');
    if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
    if (localOffset === 0xffffffff) localOffset = take('relative header offset');
  }
  if (method === 0 && compressedSize !== uncompressedSize + (flags & 1 ? 12 : 0))
    throw new ZipFormatError(
      `compressed/uncompressed size mismatch for stored file: ${compressedSize} != ${uncompressedSize}`,
    );
  return {
    entry: {
      name,
      nameRaw,
      flags,
      method,
      compressedSize,
      uncompressedSize,
      localOffset,
      dataStart: 0,
    },
    next: at + 46 + rest.length,
  };
}

/**
 * Reads an entry's local header: where its data starts (within the file), and what it says
 * that the central directory does not (see {@link ZipReader.disagreements}).
 */
async function readLocalHeader(source: ByteSource, entry: CentralEntry) {
  const head = view(await readExactly(source, entry.localOffset, 30));
  const signature = head.getUint32(0, true);
  if (signature !== 0x04034b50)
    throw new ZipFormatError(`invalid local file header signature: 0x${signature.toString(16)}`);
  const nameLength = head.getUint16(26, true);
  const extraLength = head.getUint16(28, true);
  entry.dataStart = entry.localOffset + 30 + nameLength + extraLength;
  if (entry.dataStart + entry.compressedSize > source.size)
    throw new ZipFormatError(
      `file data overflows file bounds: ${entry.dataStart} + ${entry.compressedSize} > ${source.size}`,
    );
  const localName = await readExactly(source, entry.localOffset + 30, nameLength);
  const differs: string[] = [];
  if (!sameBytes(localName, entry.nameRaw))
    // At most the first 200 bytes: a name may be 64 KiB, too long for a message (or a spread).
    differs.push(`name ${JSON.stringify(String.fromCharCode(...localName.subarray(0, 200)))}`);
  const method = head.getUint16(8, true);
  if (method !== entry.method) differs.push(`compression method ${method}`);
  // With a data descriptor (flag bit 3) the local sizes are zero; otherwise the central ones.
  const deferred = (head.getUint16(6, true) & 0x08) !== 0;
  const local = {
    compressedSize: head.getUint32(18, true),
    uncompressedSize: head.getUint32(22, true),
  };
  for (const field of ['compressedSize', 'uncompressedSize'] as const) {
    const size = local[field];
    const central = entry[field] >= 0xffffffff ? 0xffffffff : entry[field];
    if (!(size === central || (deferred && size === 0)) && size !== 0xffffffff)
      differs.push(`${field} ${size}`);
  }
  return differs.length ? `${entry.name}: its local header says ${differs.join(', ')}` : undefined;
}

function extraFields(bytes: Uint8Array): { id: number; data: Uint8Array }[] {
  const fields: { id: number; data: Uint8Array }[] = [];
  const data = view(bytes);
  for (let i = 0; i < bytes.length - 3; ) {
    const id = data.getUint16(i, true);
    const start = i + 4;
    const end = start + data.getUint16(i + 2, true);
    if (end > bytes.length)
      throw new ZipFormatError('extra field length exceeds extra field buffer size');
    fields.push({ id, data: bytes.subarray(start, end) });
    i = end;
  }
  return fields;
}

/** The entry's name as yauzl reads it: Info-ZIP Unicode Path field, else UTF-8 or CP437. */
function fileNameOf(
  flags: number,
  raw: Uint8Array,
  extras: { id: number; data: Uint8Array }[],
): string {
  let name: string | undefined;
  for (const field of extras) {
    if (field.id !== 0x7075 || field.data.length < 6 || field.data[0] !== 1) continue;
    if (crc32(raw) !== view(field.data).getUint32(1, true)) continue;
    name = new TextDecoder().decode(field.data.subarray(5));
    break;
  }
  name ??=
    flags & 0x800 ? new TextDecoder().decode(raw) : Array.from(raw, (b) => CP437[b]).join('');
  return name.replace(/\\/g, '/');
}

function fileNameProblem(name: string): string | undefined {
  if (name.includes('\\')) return `invalid characters in fileName: ${name}`;
  if (/^[a-zA-Z]:/.test(name) || name.startsWith('/')) return `absolute path: ${name}`;
  if (name.split('/').includes('..')) return `invalid relative path: ${name}`;
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

let crcTable: Uint32Array | undefined;
/** CRC-32 (ISO-HDLC), for the Unicode Path field's check of the name it replaces. */
function crc32(bytes: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
