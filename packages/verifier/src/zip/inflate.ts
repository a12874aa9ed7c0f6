/**
 * Raw deflate inflated by the platform's zlib (DecompressionStream, in browsers and in Node)
 * as Node's zlib stream inflates it for yauzl, so that the page and the command line accept
 * and refuse the same zip entries.
 *
 * One difference is bridged here: bytes after the end of the deflate stream (a compressed
 * size patched larger) are ignored by Node's zlib, while browsers refuse them ("junk found
 * after end of compressed data") and may drop the output of the write that held them. So when
 * a write fails, the entry is inflated again with the bytes from that write on fed one at a
 * time (the output already given skipped), which locates the failing byte; if the stream ends
 * just before it (a third inflater closes cleanly there), that is the entry's end. Anything
 * else is the failure it was. Only damaged entries pay for the second and third pass.
 */
export async function* inflateRaw(
  compressed: () => AsyncIterable<Uint8Array>,
  step: number,
): AsyncGenerator<Uint8Array> {
  let given = 0;
  const first = inflatePass(compressed, step, Number.POSITIVE_INFINITY);
  try {
    for await (const chunk of first.chunks) {
      given += chunk.length;
      yield chunk;
    }
    return;
  } catch (error) {
    const failedAt = first.failedAt();
    if (failedAt === undefined) throw error;
    const second = inflatePass(compressed, step, failedAt);
    let skip = given;
    try {
      for await (const chunk of second.chunks) {
        if (skip >= chunk.length) {
          skip -= chunk.length;
          continue;
        }
        const rest = chunk.subarray(skip);
        skip = 0;
        yield rest;
      }
    } catch {
      const byteAt = second.failedAt();
      if (byteAt === undefined || !(await endsBefore(compressed, step, byteAt))) throw error;
    }
  }
}

interface Pass {
  chunks: AsyncGenerator<Uint8Array>;
  /** Where the write that failed started, once the pass has failed on a write. */
  failedAt(): number | undefined;
}

/**
 * One inflater over the compressed bytes: written `step` bytes at a time up to `oneByOneFrom`,
 * then one byte at a time. Each write waits until the output of the one before was read, so
 * memory stays flat whatever an entry inflates to.
 */
function inflatePass(
  compressed: () => AsyncIterable<Uint8Array>,
  step: number,
  oneByOneFrom: number,
): Pass {
  const inflater = new DecompressionStream('deflate-raw');
  const writer = inflater.writable.getWriter();
  const reader = inflater.readable.getReader();
  let failedAt: number | undefined;
  const feeding = (async () => {
    let offset = 0;
    for await (const slice of compressed()) {
      for (let at = 0; at < slice.length; ) {
        const size = offset >= oneByOneFrom ? 1 : Math.min(step, oneByOneFrom - offset);
        const piece = slice.subarray(at, at + size) as Uint8Array<ArrayBuffer>;
        try {
          await writer.write(piece);
        } catch (error) {
          failedAt ??= offset;
          throw error;
        }
        at += piece.length;
        offset += piece.length;
      }
    }
    await writer.close();
  })();
  // A failure to feed (the source unreadable, the stream refused) also errors the reader.
  const fed = feeding.catch(async (error) => {
    await writer.abort(error).catch(() => {});
    throw error;
  });
  fed.catch(() => {});
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (value.length) yield value;
      }
      await fed;
    } catch (error) {
      await fed.catch(() => {}); // so that failedAt is known
      throw error;
    } finally {
      await reader.cancel().catch(() => {});
      await writer.abort().catch(() => {});
    }
  }
  return { chunks: chunks(), failedAt: () => failedAt };
}

/** Whether the deflate stream ends exactly after its first `length` compressed bytes. */
async function endsBefore(
  compressed: () => AsyncIterable<Uint8Array>,
  step: number,
  length: number,
): Promise<boolean> {
  async function* prefix(): AsyncGenerator<Uint8Array> {
    let left = length;
    for await (const slice of compressed()) {
      if (left <= 0) return;
      yield slice.subarray(0, left);
      left -= slice.length;
    }
  }
  try {
    for await (const _ of inflatePass(prefix, step, Number.POSITIVE_INFINITY).chunks);
    return true;
  } catch {
    return false;
  }
}
