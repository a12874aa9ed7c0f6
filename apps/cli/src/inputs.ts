import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import {
  duplicateMemberProblem,
  MAX_JSON_DEPTH,
  nestingExceeds,
  type PublisherKeys,
  parsePublisherKeys,
} from '@quittance/verifier';

// The files the offline commands are given (verify, monitor); a failure is one line, exit 2.

/**
 * Input that cannot be read (SPEC §10, exit status 2): a missing file, a directory, a file
 * that is not what it should be. One line on stderr, no usage text, no stack.
 */
export class UnreadableInput extends Error {
  override readonly name = 'UnreadableInput';
  constructor(
    message: string,
    /** The system's error code when opening failed (ENOENT: there is no such file). */
    readonly code?: string,
  ) {
    super(message);
  }
}

export const MiB = 1024 * 1024;
/** Key, snapshot, proof and trust files are small. */
export const MAX_KEY_FILE = 64 * MiB;

/** Opens a regular file for reading, or says in one line why it cannot be read. */
export async function openFile(path: string, what: string, max: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    // Non-blocking, so that a FIFO is refused below instead of waiting for a writer; a
    // regular file reads as usual.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'it is a directory',
    };
    throw new UnreadableInput(
      `cannot read ${what}${what ? ' ' : ''}${path}: ${code ?? error}${code && why[code] ? ` (${why[code]})` : ''}`,
      code,
    );
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory())
      throw new UnreadableInput(`${path} is a directory; give the ${what || 'file'} itself`);
    if (!stats.isFile()) throw new UnreadableInput(`${path} is not a regular file`);
    if (stats.size > max)
      throw new UnreadableInput(
        `${what}${what ? ' ' : ''}${path} is ${Math.ceil(stats.size / MiB)} MiB; the limit is ${max / MiB} MiB`,
      );
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * A file's UTF-8 text without a leading byte order mark, as the verifier page's File.text()
 * reads it: RFC 8259 §8.1 lets a JSON parser ignore one, and editors on Windows add it.
 */
export async function readText(path: string, what: string, max: number): Promise<string> {
  const handle = await openFile(path, what, max);
  try {
    const text = await handle.readFile('utf8');
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch (error) {
    throw new UnreadableInput(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  } finally {
    await handle.close();
  }
}

/** JSON text, refused when it is not JSON or nests deeper than the bundle limit. */
function parseJsonText(text: string, where: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UnreadableInput(`${where} is not JSON: ${(error as Error).message}`);
  }
  if (nestingExceeds(text, MAX_JSON_DEPTH))
    throw new UnreadableInput(`${where} nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
  const duplicate = duplicateMemberProblem(text);
  if (duplicate) throw new UnreadableInput(`${where} ${duplicate}`);
  return value;
}

export async function readJson(path: string, what: string, max: number): Promise<unknown> {
  return parseJsonText(await readText(path, what, max), `${what} ${path}`);
}

/** PEM file of TSA trust anchors (the CA certificates the timestamps must chain to). */
export async function readTsaTrust(path: string): Promise<Uint8Array[]> {
  const pem = await readText(path, 'TSA trust file', MAX_KEY_FILE);
  // Loaded here, not at start-up: only --tsa-trust needs PKI.js up front.
  const { assertCertificates, parsePemCertificates } = await import('@quittance/tsp');
  let anchors: Uint8Array[];
  try {
    anchors = parsePemCertificates(pem);
    assertCertificates(anchors, 'it');
  } catch (error) {
    throw new UnreadableInput(`TSA trust file ${path}: ${(error as Error).message}`);
  }
  if (anchors.length === 0)
    throw new UnreadableInput(`TSA trust file ${path} holds no PEM certificate`);
  return anchors;
}

/** A pinned publisher key file (a JWKS, SPEC §5). */
export async function readPublisher(path: string): Promise<PublisherKeys> {
  const document = await readJson(path, 'publisher key file', MAX_KEY_FILE);
  try {
    return parsePublisherKeys(document);
  } catch (error) {
    throw new UnreadableInput(`${path}: ${(error as Error).message}`);
  }
}
