import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BundleInfo, BundleStore } from '../src';

/** Incompressible bytes as a stream of chunks, hashed as they are produced. */
export function randomContent(bytes: number, chunkBytes = 1024 * 1024) {
  const hash = createHash('sha256');
  async function* chunks() {
    for (let left = bytes; left > 0; left -= chunkBytes) {
      const chunk = randomBytes(Math.min(chunkBytes, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  return { stream: () => Readable.from(chunks()), sha256: () => hash.digest('hex') };
}

/** SHA-256 hex and length of a stream, read chunk by chunk. */
export async function digestOf(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Writes `data` as bundle `key` and commits it. */
export async function put(store: BundleStore, key: string, data: Buffer): Promise<BundleInfo> {
  const write = await store.create(key);
  await pipeline(Readable.from([data]), write.stream);
  return write.commit();
}

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}
