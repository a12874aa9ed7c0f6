import { canonicalJson, type JsonValue } from '@quittance/format';

/**
 * Deepest JSON nesting accepted anywhere in a bundle (and in the offline commands' files).
 * JSON.parse copes with any depth, but canonicalization, validation and structured cloning
 * recurse; 1,000 is far beyond any real document (a receipt's signed part is at most 4096
 * bytes of signing input) and far within the stack.
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

/** The JSON parser's message, without the line and column newer V8 versions append. */
export const parserWords = (error: unknown) =>
  messageOf(error).replace(/ \(line \d+ column \d+\)$/, '');

/** JSON text parsed with a depth limit: the value, or why it is not acceptable JSON. */
export function parseJson(
  text: string,
  max: number = MAX_JSON_DEPTH,
): { ok: true; value: unknown } | { ok: false; problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's words: they differ between JavaScript engines (and V8 versions), and
    // a bundle gets the same report in every browser and in the CLI.
    return { ok: false, problem: 'is not JSON' };
  }
  if (nestingExceeds(text, max)) return { ok: false, problem: `nests deeper than ${max} levels` };
  const duplicate = duplicateMemberProblem(text);
  if (duplicate) return { ok: false, problem: duplicate };
  return { ok: true, value };
}

/**
 * Why valid JSON `text` is refused for a member name twice in one object, if it is: every
 * document and line a verifier reads is checked, as what JSON.parse keeps (the last) is not
 * what other readers keep (the first). A receipt whose `tool` says one thing to this verifier
 * and another to the next one is not evidence of either.
 */
export function duplicateMemberProblem(text: string): string | undefined {
  const duplicate = duplicateMember(text);
  return duplicate === undefined
    ? undefined
    : `is not I-JSON: member ${showValue(duplicate)} occurs twice in one object`;
}

/**
 * The first member name that occurs twice in one object of valid JSON `text`, if any.
 * JSON.parse keeps the last of duplicates where other parsers keep the first, so a signed
 * document with duplicates says different things to different verifiers (I-JSON, RFC 7493,
 * forbids them).
 */
function duplicateMember(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      const members = stack[stack.length - 1];
      if (expectKey && members) {
        // Names compare unescaped; only a name with an escape needs the parser (every line
        // of a bundle passes here, and most names have none).
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
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

/** JCS of a JSON value, or undefined when it has none (not I-JSON). */
export function canonicalOf(value: unknown): string | undefined {
  try {
    return canonicalJson(value as JsonValue);
  } catch {
    return undefined;
  }
}

export const isCount = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0;
export const isSeq = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 1;
export const messageOf = (error: unknown) =>
  error instanceof Error ? error.message : String(error);

/** Problems joined for a reason, the first `max` of them and how many more of `total`. */
export const listed = (problems: readonly string[], max: number, total = problems.length) =>
  problems.slice(0, max).join('; ') + (total > max ? ` (+${total - max} more)` : '');

/**
 * Problems of one claim: every one counted, the first {@link ProblemList.KEPT} kept word for
 * word. A hostile file of tiny lines has millions, and a string for each ran the CLI out of
 * memory (a 56 KB zip).
 */
export class ProblemList {
  static readonly KEPT = 100;
  /** Why a file was not read to its end: shown before any other problem. */
  readonly #stops: string[] = [];
  readonly #kept: string[] = [];
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** The first problems, each file not read to its end first. */
  get kept(): readonly string[] {
    return this.#stops.length ? [...this.#stops, ...this.#kept] : this.#kept;
  }

  push(problem: string): void {
    this.#count++;
    if (this.#kept.length < ProblemList.KEPT) this.#kept.push(problem);
  }

  /** Ahead of the others: what says the most comes first, as only the first are shown. */
  unshift(problem: string): void {
    this.#count++;
    this.#kept.unshift(problem);
    if (this.#kept.length > ProblemList.KEPT) this.#kept.pop();
  }

  /** A file not read to its end, and why. */
  stop(problem: string): void {
    this.#count++;
    this.#stops.push(problem);
  }

  /** Every problem of `other` after these (its stops with these). */
  append(other: ProblemList): void {
    for (const problem of other.#stops) this.stop(problem);
    for (const problem of other.#kept) this.push(problem);
    this.#count += other.count - other.#stops.length - other.#kept.length;
  }

  /** The first `max` joined for a reason, and how many more. */
  listed(max: number): string {
    return listed(this.kept, max, this.#count);
  }
}
