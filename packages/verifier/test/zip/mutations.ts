/** Random damage to a zip, seeded so that a failing case can be replayed (parity tests). */

/** mulberry32: seeded, so that a failing case can be replayed. */
export function prng(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * n);
  };
}

export function mutate(
  bytes: Uint8Array<ArrayBuffer>,
  int: (n: number) => number,
): { bytes: Uint8Array<ArrayBuffer>; what: string } {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const eocd = out.length - 22;
  const central = view.getUint32(eocd + 16, true);
  switch (int(4)) {
    case 0: {
      const at = int(out.length);
      out[at] = (out[at] as number) ^ (1 << int(8));
      return { bytes: out, what: `flip byte ${at}` };
    }
    case 1: {
      const length = int(out.length);
      return { bytes: out.subarray(0, length), what: `truncate to ${length}` };
    }
    case 2: {
      // A size field of one central directory record (entries are walked to find it).
      let at = central;
      for (let skip = int(view.getUint16(eocd + 10, true)); skip > 0; skip--)
        at +=
          46 +
          view.getUint16(at + 28, true) +
          view.getUint16(at + 30, true) +
          view.getUint16(at + 32, true);
      const field = at + (int(2) ? 20 : 24);
      const value = [0, 1, view.getUint32(field, true) + 1, 0x7fffffff][int(4)] as number;
      view.setUint32(field, value, true);
      return { bytes: out, what: `central size at ${field} = ${value}` };
    }
    default: {
      const field = (int(2) ? 18 : 22) + 0; // the first local header's sizes
      view.setUint32(field, int(2) ? 0 : view.getUint32(field, true) + 7, true);
      return { bytes: out, what: `local size at ${field}` };
    }
  }
}
