/**
 * The log tree of SPEC §6.1: RFC 9162 §2.1 Merkle trees over a merchant's chain entries.
 *
 * Leaf `seq − 1` (0-based) is entry `seq`; its leaf data is the 32 bytes of the hex-decoded
 * `entryHash`; leaf hash = SHA-256(0x00 ‖ data); interior node = SHA-256(0x01 ‖ left ‖ right).
 * Every public function takes and returns lowercase hex; `seq` is the 1-based entry number
 * the SPEC and the proofs use, never a 0-based index.
 *
 * Written here rather than taken from npm: no maintained, browser-ready package implements
 * RFC 6962/9162 trees with consistency proofs (merkletreejs and its kin build other trees:
 * no 0x00/0x01 domain separation, duplicated odd nodes; @sigstore/verify only checks Rekor
 * inclusion inside its own bundle format). This is some 250 lines of code over the package's
 * own `#sha256` (node:crypto under Node, WebCrypto in browsers), checked against the
 * independent conformance vectors (shared/conformance/merkle) and property tests.
 *
 * Nothing recurses: generation walks RFC 9162's recursive definitions as loops, and every
 * verifier bounds its work by the tree size (at most 64 path hashes). Verifiers never throw on
 * what they are handed: they return `{ ok: false, reason }`. Generators throw `RangeError` on
 * arguments no caller should pass (a seq outside the tree, a malformed entry hash).
 */
import { sha256 } from '#sha256';
import { toHex } from './encoding';

/** The result of checking a proof: never an exception, always a reason when it fails. */
export type MerkleCheck = { ok: true } | { ok: false; reason: string };

/** An audit path is at most one hash per level: 2^64 entries is past any safe integer. */
export const MAX_PROOF_HASHES = 64;

const HEX = /^[0-9a-f]{64}$/;

/** Value of each lowercase hex digit by char code (the input was checked against HEX). */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;

function fromHex32(hex: string): Uint8Array {
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++)
    bytes[i] =
      ((NIBBLE[hex.charCodeAt(2 * i)] as number) << 4) |
      (NIBBLE[hex.charCodeAt(2 * i + 1)] as number);
  return bytes;
}

/** SHA-256(0x00 ‖ entryHash bytes): the leaf hash of one entry. */
async function leafOf(entry: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(33);
  input.set(entry, 1);
  return sha256(input);
}

/** SHA-256(0x01 ‖ left ‖ right): an interior node. */
async function nodeOf(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(65);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 33);
  return sha256(input);
}

/** Largest power of two strictly less than n (n ≥ 2): RFC 9162's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Number of set bits of a safe integer, without 32-bit bitwise operators. */
export function popcount(n: number): number {
  let bits = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) bits += v % 2;
  return bits;
}

const isSize = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** Decodes entry hashes, or throws RangeError naming the first malformed one. */
function decodeEntries(entryHashes: readonly string[]): Uint8Array[] {
  return entryHashes.map((hex, i) => {
    if (typeof hex !== 'string' || !HEX.test(hex))
      throw new RangeError(`entry hash ${i + 1} is not 64 lowercase hex characters`);
    return fromHex32(hex);
  });
}

/** Checks a list of proof hashes, returning the bytes or the reason they are unusable. */
function decodeProof(
  hashes: unknown,
  what: string,
): { ok: true; bytes: Uint8Array[] } | { ok: false; reason: string } {
  if (!Array.isArray(hashes)) return { ok: false, reason: `${what} is not an array` };
  if (hashes.length > MAX_PROOF_HASHES)
    return { ok: false, reason: `${what} has ${hashes.length} hashes, more than any tree needs` };
  const bytes: Uint8Array[] = [];
  for (const [i, hex] of hashes.entries()) {
    if (typeof hex !== 'string' || !HEX.test(hex))
      return { ok: false, reason: `${what}[${i}] is not 64 lowercase hex characters` };
    bytes.push(fromHex32(hex));
  }
  return { ok: true, bytes };
}

/**
 * Perfect-subtree roots of leaves [from, to), largest first: the frontier of that range.
 * One pass with a stack of (root, size): a new leaf merges with equal-sized roots on top.
 */
async function rangeFrontier(
  leaves: readonly Uint8Array[],
  from: number,
  to: number,
): Promise<Uint8Array[]> {
  const roots: Uint8Array[] = [];
  const sizes: number[] = [];
  for (let i = from; i < to; i++) {
    let root = leaves[i] as Uint8Array;
    let size = 1;
    while (sizes.length > 0 && sizes[sizes.length - 1] === size) {
      sizes.pop();
      root = await nodeOf(roots.pop() as Uint8Array, root);
      size *= 2;
    }
    roots.push(root);
    sizes.push(size);
  }
  return roots;
}

/** SPEC §6.1: the frontier folded from the right; the empty tree hashes the empty string. */
async function fold(frontier: readonly Uint8Array[]): Promise<Uint8Array> {
  if (frontier.length === 0) return sha256(new Uint8Array(0));
  let root = frontier[frontier.length - 1] as Uint8Array;
  for (let i = frontier.length - 2; i >= 0; i--)
    root = await nodeOf(frontier[i] as Uint8Array, root);
  return root;
}

/** MTH(D[from:to]) over leaf hashes. */
async function rangeRoot(leaves: readonly Uint8Array[], from: number, to: number) {
  return fold(await rangeFrontier(leaves, from, to));
}

async function leavesOf(entryHashes: readonly string[]): Promise<Uint8Array[]> {
  const entries = decodeEntries(entryHashes);
  const leaves: Uint8Array[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) leaves[i] = await leafOf(entries[i] as Uint8Array);
  return leaves;
}

/** The leaf hash of one entry (SHA-256(0x00 ‖ entryHash bytes)), hex. */
export async function merkleLeafHash(entryHash: string): Promise<string> {
  const [entry] = decodeEntries([entryHash]);
  return toHex(await leafOf(entry as Uint8Array));
}

/** rootHash(N) of SPEC §6.1 over entries 1..N (N = entryHashes.length; N = 0: SHA-256 of ""). */
export async function merkleRoot(entryHashes: readonly string[]): Promise<string> {
  const leaves = await leavesOf(entryHashes);
  return toHex(await rangeRoot(leaves, 0, leaves.length));
}

/** The frontier of the tree over entries 1..N: one perfect-subtree root per set bit of N. */
export async function merkleFrontier(entryHashes: readonly string[]): Promise<string[]> {
  const leaves = await leavesOf(entryHashes);
  return (await rangeFrontier(leaves, 0, leaves.length)).map(toHex);
}

/**
 * rootHash of the tree a frontier describes (SPEC §6.1 fold). Throws RangeError on a
 * malformed hash; an empty frontier is the empty tree.
 */
export async function rootFromFrontier(frontier: readonly string[]): Promise<string> {
  return toHex(await fold(decodeEntries(frontier)));
}

/**
 * Appends entries seq size+1.. to the frontier of a tree of `size` and returns the new
 * frontier (of size + entryHashes.length). Throws RangeError when the frontier does not have
 * one hash per set bit of `size`.
 */
export async function appendToFrontier(
  frontier: readonly string[],
  size: number,
  entryHashes: readonly string[],
): Promise<string[]> {
  if (!isSize(size)) throw new RangeError('size must be a non-negative safe integer');
  if (popcount(size) !== frontier.length)
    throw new RangeError(
      `a tree of ${size} entries has ${popcount(size)} frontier hashes, not ${frontier.length}`,
    );
  if (!isSize(size + entryHashes.length)) throw new RangeError('the tree would be too large');
  const roots = decodeEntries(frontier);
  // Sizes of the frontier's subtrees, largest first: the set bits of `size`.
  const sizes: number[] = [];
  for (let bit = 2 ** 52; bit >= 1; bit /= 2) if (Math.floor(size / bit) % 2 === 1) sizes.push(bit);
  for (const entry of decodeEntries(entryHashes)) {
    let root = await leafOf(entry);
    let width = 1;
    while (sizes.length > 0 && sizes[sizes.length - 1] === width) {
      sizes.pop();
      root = await nodeOf(roots.pop() as Uint8Array, root);
      width *= 2;
    }
    roots.push(root);
    sizes.push(width);
  }
  return roots.map(toHex);
}

/** Validates (seq, treeSize) against the entries held, or throws RangeError. */
function checkRange(what: string, low: number, high: number, held: number, lowName: string) {
  if (!Number.isSafeInteger(low) || low < 1 || !Number.isSafeInteger(high) || low > high)
    throw new RangeError(`${what}: need 1 ≤ ${lowName} ≤ treeSize, got ${low} and ${high}`);
  if (high > held) throw new RangeError(`${what}: tree of ${high} but only ${held} entries given`);
}

/**
 * The Merkle Tree Hash (hex) of entries [from, to), 0-based and `to` exclusive: how a caller
 * that does not hold every entry (a log with stored subtree roots) provides the hashes a
 * proof needs. Every range asked for is a subtree of RFC 9162's split.
 */
export type RangeRoot = (from: number, to: number) => Promise<string>;

/** SHA-256(0x01 ‖ left ‖ right) of two hex node hashes, hex. */
export async function merkleNodeHash(left: string, right: string): Promise<string> {
  const [l, r] = decodeEntries([left, right]) as [Uint8Array, Uint8Array];
  return toHex(await nodeOf(l, r));
}

/**
 * RFC 9162 §2.1.3.1 PATH(m, D[0:n]) for entry `seq` (m = seq − 1) in the tree of the first
 * `treeSize` entries, from the subtree roots `root` gives: sibling hashes from the leaf up.
 */
export async function inclusionPath(
  seq: number,
  treeSize: number,
  root: RangeRoot,
): Promise<string[]> {
  checkRange('inclusion proof', seq, treeSize, treeSize, 'seq');
  const path: string[] = [];
  // Walk down from the root; each step keeps the half holding the leaf and records the other.
  let from = 0;
  let to = treeSize;
  const m = seq - 1;
  while (to - from > 1) {
    const k = splitPoint(to - from);
    if (m < from + k) {
      path.push(await root(from + k, to));
      to = from + k;
    } else {
      path.push(await root(from, from + k));
      from += k;
    }
  }
  return path.reverse();
}

/**
 * RFC 9162 §2.1.4.1 PROOF(m, D[0:n]) between the trees of the first `from` and `to` entries
 * (1 ≤ from ≤ to), from the subtree roots `root` gives: empty when from = to.
 */
export async function consistencyPath(
  from: number,
  to: number,
  root: RangeRoot,
): Promise<string[]> {
  checkRange('consistency proof', from, to, to, 'from');
  // SUBPROOF(m, D[lo:hi], b) as a loop: each level appends one hash after the deeper ones.
  const outer: string[] = [];
  let lo = 0;
  let hi = to;
  let m = from;
  let complete = true; // RFC 9162's b: the subtree is a subtree of the old tree
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      outer.push(await root(lo + k, hi));
      hi = lo + k;
    } else {
      outer.push(await root(lo, lo + k));
      lo += k;
      m -= k;
      complete = false;
    }
  }
  const inner = complete ? [] : [await root(lo, hi)];
  return [...inner, ...outer.reverse()];
}

/** A RangeRoot over entries held in memory. */
async function rootsOver(entryHashes: readonly string[], size: number): Promise<RangeRoot> {
  const leaves = await leavesOf(entryHashes.slice(0, size));
  return async (from, to) => toHex(await rangeRoot(leaves, from, to));
}

/** inclusionPath over the entries themselves (`entryHashes` holds at least `treeSize`). */
export async function inclusionProof(
  entryHashes: readonly string[],
  seq: number,
  treeSize: number,
): Promise<string[]> {
  checkRange('inclusion proof', seq, treeSize, entryHashes.length, 'seq');
  return inclusionPath(seq, treeSize, await rootsOver(entryHashes, treeSize));
}

/** consistencyPath over the entries themselves (`entryHashes` holds at least `to`). */
export async function consistencyProof(
  entryHashes: readonly string[],
  from: number,
  to: number,
): Promise<string[]> {
  checkRange('consistency proof', from, to, entryHashes.length, 'from');
  return consistencyPath(from, to, await rootsOver(entryHashes, to));
}

export interface InclusionInput {
  /** The entry's `entryHash` (hex), whose leaf hash the path starts from. */
  entryHash: string;
  /** 1-based entry number: leaf index seq − 1. */
  seq: number;
  treeSize: number;
  auditPath: readonly string[];
  /** The expected root of the tree of `treeSize` entries. */
  rootHash: string;
}

/** RFC 9162 §2.1.3.2: does the audit path take the entry's leaf to `rootHash`? Never throws. */
export async function verifyInclusion(input: InclusionInput): Promise<MerkleCheck> {
  const { seq, treeSize } = (input ?? {}) as Partial<InclusionInput>;
  if (!Number.isSafeInteger(treeSize) || (treeSize as number) < 1)
    return { ok: false, reason: 'treeSize is not a positive safe integer' };
  if (!Number.isSafeInteger(seq) || (seq as number) < 1)
    return { ok: false, reason: 'seq is not a positive safe integer' };
  if ((seq as number) > (treeSize as number))
    return { ok: false, reason: `seq ${seq} is past the tree of ${treeSize}` };
  if (typeof input.entryHash !== 'string' || !HEX.test(input.entryHash))
    return { ok: false, reason: 'entryHash is not 64 lowercase hex characters' };
  if (typeof input.rootHash !== 'string' || !HEX.test(input.rootHash))
    return { ok: false, reason: 'rootHash is not 64 lowercase hex characters' };
  const path = decodeProof(input.auditPath, 'auditPath');
  if (!path.ok) return path;
  let fn = (seq as number) - 1;
  let sn = (treeSize as number) - 1;
  let r = await leafOf(fromHex32(input.entryHash));
  for (const p of path.bytes) {
    if (sn === 0) return { ok: false, reason: 'auditPath is longer than the tree is deep' };
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeOf(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeOf(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return { ok: false, reason: 'auditPath is shorter than the tree is deep' };
  return toHex(r) === input.rootHash
    ? { ok: true }
    : { ok: false, reason: `auditPath does not recompute rootHash for entry ${seq}` };
}

export interface ConsistencyInput {
  from: number;
  to: number;
  fromRoot: string;
  toRoot: string;
  proof: readonly string[];
}

/**
 * RFC 9162 §2.1.4.2: does the proof show the tree of `to` entries extends the tree of `from`
 * unchanged? from = to holds with an empty proof and equal roots. Never throws.
 */
export async function verifyConsistency(input: ConsistencyInput): Promise<MerkleCheck> {
  const { from, to, fromRoot, toRoot } = (input ?? {}) as Partial<ConsistencyInput>;
  if (!Number.isSafeInteger(from) || (from as number) < 1)
    return { ok: false, reason: 'from is not a positive safe integer' };
  if (!Number.isSafeInteger(to) || (to as number) < 1)
    return { ok: false, reason: 'to is not a positive safe integer' };
  if ((from as number) > (to as number))
    return { ok: false, reason: `from ${from} is past to ${to}: a log never shrinks` };
  if (typeof fromRoot !== 'string' || !HEX.test(fromRoot))
    return { ok: false, reason: 'the first rootHash is not 64 lowercase hex characters' };
  if (typeof toRoot !== 'string' || !HEX.test(toRoot))
    return { ok: false, reason: 'the second rootHash is not 64 lowercase hex characters' };
  const decoded = decodeProof(input.proof, 'proof');
  if (!decoded.ok) return decoded;
  const proof = decoded.bytes;
  if (from === to) {
    if (proof.length !== 0) return { ok: false, reason: 'trees of equal size need an empty proof' };
    return fromRoot === toRoot
      ? { ok: true }
      : { ok: false, reason: `two different roots for the tree of ${from}: a fork` };
  }
  if (proof.length === 0) return { ok: false, reason: 'the proof is empty' };
  const path = [...proof];
  // A power-of-two old tree is itself a node of the new one: its root starts the path.
  if (popcount(from as number) === 1) path.unshift(fromHex32(fromRoot));
  let fn = (from as number) - 1;
  let sn = (to as number) - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return { ok: false, reason: 'the proof is longer than the trees need' };
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeOf(c, fr);
      sr = await nodeOf(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = await nodeOf(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return { ok: false, reason: 'the proof is shorter than the trees need' };
  if (toHex(fr) !== fromRoot)
    return { ok: false, reason: `the proof does not recompute the root of the tree of ${from}` };
  if (toHex(sr) !== toRoot)
    return { ok: false, reason: `the proof does not recompute the root of the tree of ${to}` };
  return { ok: true };
}
