import { utf8 } from './encoding';
import { FormatError } from './errors';

/** A value that is I-JSON (RFC 7493) and therefore has exactly one RFC 8785 form. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * The deepest nesting of arrays and objects a JSON value may have here: the outermost array
 * or object is level 1. RFC 8259 §9 lets a parser limit nesting; I-JSON values deeper than
 * this are refused (`not_i_json`) before anything recurses into them, so no value can
 * exhaust the call stack of the checks below or of the canonicalizer. The HTTP API applies
 * the same limit to whole request bodies (SPEC §3 bodies sit one level inside them).
 */
export const MAX_JSON_DEPTH = 128;

/**
 * True when `value` is I-JSON. The fast check of the hot path: no strings are built; the
 * path of a problem is found afterwards by {@link findNonIJson}.
 */
export function isIJson(value: unknown): boolean {
  return isIJsonAt(value, 0);
}

/**
 * `depth`: how many arrays and objects enclose `value`; recursion stops at the limit. With
 * `scan`, it also gathers the member names for {@link viaMemberList}, and refuses what
 * JSON.stringify would write differently from canonicalAt: a `toJSON`, or an object with an
 * internal class (a boxed primitive, `arguments`).
 */
function isIJsonAt(value: unknown, depth: number, scan?: MemberScan): boolean {
  switch (typeof value) {
    case 'string':
      return !hasLoneSurrogate(value);
    case 'number':
      return Number.isFinite(value);
    case 'boolean':
      return true;
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH) return false;
      if (Array.isArray(value)) {
        if (scan && 'toJSON' in value) return false;
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !isIJsonAt(value[i], depth + 1, scan)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      if (scan) {
        if ('toJSON' in value || classOf(value) !== '[object Object]') return false;
        scan.objects++;
      }
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (hasLoneSurrogate(key)) return false;
        if (scan) {
          scan.names.add(key);
          scan.members++;
        }
        if (!isIJsonAt((value as Record<string, unknown>)[key], depth + 1, scan)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * Returns the path of the first member that is not I-JSON, or null when `value` is I-JSON.
 * Rejects what `canonicalize` would silently coerce: `undefined`, functions, symbols, BigInt,
 * holes in arrays, `toJSON` objects (Date), Maps and class instances, non-finite numbers and
 * strings or member names with lone surrogates; and arrays or objects nested deeper than
 * {@link MAX_JSON_DEPTH} levels.
 */
export function findNonIJson(value: unknown, path = ''): string | null {
  return findNonIJsonAt(value, path, 0);
}

function findNonIJsonAt(value: unknown, path: string, depth: number): string | null {
  switch (typeof value) {
    case 'string':
      return hasLoneSurrogate(value) ? `${path || '/'}: string has a lone surrogate` : null;
    case 'number':
      return Number.isFinite(value) ? null : `${path || '/'}: ${value} is not an I-JSON number`;
    case 'boolean':
      return null;
    case 'object': {
      if (value === null) return null;
      if (depth >= MAX_JSON_DEPTH) {
        return `${path || '/'}: nested deeper than ${MAX_JSON_DEPTH} levels`;
      }
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return `${path}/${i}: array hole`;
          const found = findNonIJsonAt(value[i], `${path}/${i}`, depth + 1);
          if (found) return found;
        }
        return null;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        return `${path || '/'}: not a plain object`;
      }
      for (const key of Object.keys(value)) {
        const at = `${path}/${escapePointer(key)}`;
        if (hasLoneSurrogate(key)) return `${at}: member name has a lone surrogate`;
        const found = findNonIJsonAt((value as Record<string, unknown>)[key], at, depth + 1);
        if (found) return found;
      }
      return null;
    }
    default:
      return `${path || '/'}: ${typeof value} is not JSON`;
  }
}

/**
 * RFC 8785 canonical JSON text of an I-JSON value; throws `not_i_json` for anything else.
 * One pass that checks and writes at once (the `canonicalize` package checked each string
 * again, kept a Set of visited objects and honoured `toJSON`, none of which I-JSON needs:
 * about a sixth of an issue request's CPU). Strings and numbers are written by
 * JSON.stringify, whose ECMAScript forms RFC 8785 §3.2.2 adopts; member names sort by UTF-16
 * code units, which is Array.prototype.sort's default order (§3.2.3).
 */
export function canonicalJson(value: unknown): string {
  const text =
    (typeof value === 'object' && value !== null ? viaMemberList(value) : undefined) ??
    canonicalAt(value, 0);
  if (text === undefined) throw notIJson(value);
  return text;
}

/**
 * The fast path for objects and arrays. JSON.stringify given a property list writes each
 * object's members in that list's order (ECMA-262 SerializeJSONObject), so the sorted list of
 * every member name in the value yields RFC 8785's order, written natively: about 60 % of
 * {@link canonicalAt}'s time on issue request bodies. Undefined (take canonicalAt) for
 * anything it might write differently: a value that is not I-JSON; a name absent from some
 * object that JSON.stringify would then read through Object.prototype as a non-function
 * (`__proto__`, a polluted prototype); a `toJSON` it would call, on the value's objects or
 * arrays or their prototypes; an object with an internal class (boxed primitives,
 * `arguments`), which JSON.stringify would unwrap or read differently; a list so long that
 * checking it against every object would cost more than canonicalAt's sorts; and values of
 * few members, where the list's fixed cost outweighs the gain. Both paths are for data:
 * JSON.parse's output and object literals. Getters, non-enumerable properties and Proxies
 * are read by JSON.stringify as it reads them, which may differ from the scan.
 */
function viaMemberList(value: object): string | undefined {
  const scan: MemberScan = { names: new Set(), objects: 0, members: 0 };
  if (!isIJsonAt(value, 0, scan)) return undefined;
  if (scan.members < FEWEST_MEMBERS) return undefined;
  if (scan.names.size * scan.objects > 4 * scan.members + 64) return undefined;
  const prototype = Object.prototype as Record<string, unknown>;
  for (const name of scan.names) {
    if (name in prototype && typeof prototype[name] !== 'function') return undefined;
  }
  try {
    return JSON.stringify(value, [...scan.names].sort());
  } catch {
    return undefined; // e.g. a BigInt behind a wrapper the scan took for an object
  }
}

/** Below this many members in all, canonicalAt is faster than a member list. */
const FEWEST_MEMBERS = 8;

const classOf = (value: object) => Object.prototype.toString.call(value);

interface MemberScan {
  names: Set<string>;
  objects: number;
  members: number;
}

/** The canonical text, or undefined where `value` is not I-JSON (the caller finds where). */
function canonicalAt(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return hasLoneSurrogate(value) ? undefined : JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_JSON_DEPTH) return undefined;
      if (Array.isArray(value)) {
        let text = '[';
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return undefined;
          const item = canonicalAt(value[i], depth + 1);
          if (item === undefined) return undefined;
          text += i === 0 ? item : `,${item}`;
        }
        return `${text}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return undefined;
      const keys = Object.keys(value).sort();
      let text = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        if (hasLoneSurrogate(key)) return undefined;
        const member = canonicalAt((value as Record<string, unknown>)[key], depth + 1);
        if (member === undefined) return undefined;
        text += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${member}`;
      }
      return `${text}}`;
    }
    default:
      return undefined;
  }
}

/** UTF-8 bytes of the RFC 8785 canonical form. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalJson(value));
}

const ANY_SURROGATE = /[\uD800-\uDFFF]/;

export function hasLoneSurrogate(text: string): boolean {
  // Most strings have no surrogate at all: one native scan settles them.
  if (!ANY_SURROGATE.test(text)) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c >= 0xdc00) return true;
    const next = text.charCodeAt(i + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
    i++;
  }
  return false;
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The error for a value that is not I-JSON, with the problem's path as a field issue. */
export function notIJson(value: unknown, root = ''): FormatError {
  const problem = findNonIJson(value, root) ?? `${root || '/'}: no JSON form`;
  const path = problem.slice(0, problem.indexOf(':'));
  return new FormatError('not_i_json', `not I-JSON: ${problem}`, {
    issues: [
      { path: path === '/' ? '' : path, code: 'not_i_json', message: `not I-JSON: ${problem}` },
    ],
  });
}
