import type { FieldIssue } from '@quittance/format';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from './env';
import { renderError } from './errors';
import { ApiError } from './problem';

/**
 * The deepest nesting of arrays and objects a request body may have; the body itself is
 * level 1, so `input` and `output` may nest 127 levels. The same number as the format
 * package's `MAX_JSON_DEPTH`, which bounds what `canonicalJson` accepts.
 */
export const MAX_REQUEST_DEPTH = 128;

/** Fatal: a byte sequence that is not UTF-8 (overlong, surrogate, truncated) throws. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Parses a request body as RFC 7493 I-JSON, which SPEC §3 hashes: well-formed UTF-8
 * (`invalid_utf8`), JSON (`invalid_json`), no member name twice in one object
 * (`duplicate_member`; JSON.parse would keep the last), at most {@link MAX_REQUEST_DEPTH}
 * levels (`json_too_deep`). Lone surrogates in strings are left to the schemas and the
 * canonicalizer, which name the member.
 */
export function parseRequestJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new ApiError('invalid_utf8', 'the request body is not well-formed UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError('invalid_json', 'the request body is not valid JSON');
  }
  checkJsonText(text);
  return value;
}

/**
 * One linear pass over JSON text that JSON.parse accepted, without recursion: throws
 * `json_too_deep` past {@link MAX_REQUEST_DEPTH} levels and `duplicate_member` for a member
 * name that appears twice in one object (compared after unescaping, so `"a"` and `"\u0061"`
 * are the same name). Strings are skipped with `indexOf`; only member names are kept: in one
 * flat list searched linearly while an object has few, in a Set once it has more than 8
 * (linear overall, however wide an object is).
 */
export function checkJsonText(text: string): void {
  const names: string[] = [];
  // Per open container: where its names start in `names` (-1 for an array), its Set once it
  // is wide, and where we are in it (member name or index) for the error's path.
  const first: number[] = [];
  const wide: (Set<string> | undefined)[] = [];
  const at: (string | number)[] = [];
  let depth = 0;
  let expectName = false;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = closingQuote(text, i + 1);
      if (expectName) {
        const raw = text.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        const top = depth - 1;
        at[top] = name;
        const set = wide[top];
        if (set) {
          if (set.has(name)) throw duplicate(at, depth);
          set.add(name);
        } else {
          const from = first[top] as number;
          for (let k = from; k < names.length; k++) {
            if (names[k] === name) throw duplicate(at, depth);
          }
          names.push(name);
          if (names.length - from > 8) wide[top] = new Set(names.slice(from));
        }
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth === MAX_REQUEST_DEPTH) throw tooDeep(at, depth);
      expectName = c === 0x7b;
      first[depth] = expectName ? names.length : -1;
      wide[depth] = undefined;
      at[depth] = 0;
      depth++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
      if (c === 0x7d) {
        names.length = first[depth] as number;
        wide[depth] = undefined;
      }
      expectName = false;
    } else if (c === 0x2c /* , */) {
      const top = depth - 1;
      if ((first[top] as number) >= 0) expectName = true;
      else at[top] = (at[top] as number) + 1;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      let exponent = false;
      for (; end < length; end++) {
        const d = text.charCodeAt(end);
        if (d === 0x65 || d === 0x45 /* e E */) exponent = true;
        else if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x2b || d === 0x2d)) break;
      }
      // At most 15 characters without an exponent: at most 15 digits, within the doubles'
      // normal range, so every digit survives (the check below is for the rest).
      if (end - i > 15 || exponent) {
        const token = text.slice(i, end);
        if (!survivesAsDouble(token)) throw inexactNumber(token, at, depth);
      }
      i = end - 1;
    }
  }
}

/**
 * Whether the double a JSON number parses to still has every digit it was written with:
 * the double, rounded to as many significant digits as the text has, is the text's value.
 * `9007199254740993` (2^53 + 1) became …992, 30-digit integers lost their last 13 digits and
 * `1e-400` became 0, all signed and hashed as changed values (RFC 7493 §2.2: I-JSON numbers
 * have no greater magnitude or precision than a double). `1.10`, `0.10000000000000001` (%.17g
 * of 0.1) and `5e-324` keep theirs; so may a number written with more digits than a double
 * needs, as long as the double reproduces all of them (its exact value has at most 767).
 */
export function survivesAsDouble(token: string): boolean {
  const written = decimalParts(token);
  // At most 15 significant digits within the normal range: a double keeps every one.
  if (written.digits.length <= 15 && written.exponent > -307 && written.exponent < 308) return true;
  const value = Number(token);
  if (written.digits === '') return value === 0;
  if (!Number.isFinite(value) || value === 0) return false;
  const kept =
    written.digits.length <= 100
      ? decimalParts(value.toPrecision(written.digits.length))
      : exactDecimal(value, written.digits.length);
  return kept.digits === written.digits && kept.exponent === written.exponent;
}

/**
 * A decimal number's significant digits (no leading or trailing zeros; '' for zero) and the
 * power of ten of its first digit, from JSON's number syntax or `toPrecision`'s. One pass,
 * no regular expression: it runs for every long number of a body.
 */
function decimalParts(text: string): { digits: string; exponent: number } {
  const start = text.charCodeAt(0) === 0x2d /* - */ ? 1 : 0;
  let i = start;
  let first = -1; // index of the first significant digit
  let last = -1; // index just after the last non-zero digit
  let point = -1;
  let wholeDigits = 0; // digits before the point, leading zeros included
  const length = text.length;
  for (; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e /* . */) point = i;
    else if (c >= 0x30 && c <= 0x39) {
      if (point < 0) wholeDigits++;
      if (c !== 0x30) {
        if (first < 0) first = i;
        last = i + 1;
      }
    } else break; // e or E
  }
  if (first < 0) return { digits: '', exponent: 0 };
  const power = i < length ? Number(text.slice(i + 1)) : 0;
  const raw = text.slice(first, last);
  const digits = point > first && point < last ? raw.replace('.', '') : raw;
  // The first digit's place: counted from the point (or the end of the whole part).
  const lead = point < 0 || first < point ? wholeDigits - (first - start) - 1 : point - first;
  return { digits, exponent: lead + power };
}

/**
 * The exact value of a finite, non-zero double rounded to `precision` significant digits
 * (as `toPrecision` would, which stops at 100): its binary value m × 2^e written out with
 * BigInt, then rounded half up.
 */
function exactDecimal(value: number, precision: number): { digits: string; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(value));
  const bits = view.getBigUint64(0);
  const biased = Number(bits >> 52n);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const e = (biased === 0 ? 1 : biased) - 1075;
  let all: string;
  let exponent: number;
  if (e >= 0) {
    all = (mantissa << BigInt(e)).toString();
    exponent = all.length - 1;
  } else {
    all = (mantissa * 5n ** BigInt(-e)).toString();
    exponent = all.length - 1 + e;
  }
  if (all.length > precision) {
    let kept = BigInt(all.slice(0, precision));
    if (all.charCodeAt(precision) >= 0x35 /* 5 */) kept += 1n;
    const rounded = kept.toString();
    if (rounded.length > precision) exponent++;
    all = rounded;
  }
  let end = all.length;
  while (end > 0 && all.charCodeAt(end - 1) === 0x30) end--;
  return { digits: all.slice(0, end), exponent };
}

function inexactNumber(token: string, at: readonly (string | number)[], depth: number) {
  const path = pointer(at, depth);
  const shown = token.length > 40 ? `${token.slice(0, 40)}…` : token;
  const issue: FieldIssue = {
    path,
    code: 'not_i_json',
    message: `${path || '/'}: ${shown} cannot be held by an IEEE 754 double without changing its value (RFC 7493 §2.2); send it as a string`,
  };
  return new ApiError('invalid_request', issue.message, [issue]);
}

/** Index of the `"` that closes the string whose content starts at `from`. */
function closingQuote(text: string, from: number): number {
  let end = text.indexOf('"', from);
  while (text.charCodeAt(end - 1) === 0x5c /* \ */) {
    let backslashes = 0;
    for (let j = end - 1; text.charCodeAt(j) === 0x5c; j--) backslashes++;
    if (backslashes % 2 === 0) break;
    end = text.indexOf('"', end + 1);
  }
  return end;
}

function pointer(at: readonly (string | number)[], depth: number): string {
  let path = '';
  for (let k = 0; k < depth; k++) {
    path += `/${String(at[k]).replaceAll('~', '~0').replaceAll('/', '~1')}`;
  }
  return path;
}

function duplicate(at: readonly (string | number)[], depth: number): ApiError {
  const path = pointer(at, depth);
  const issue: FieldIssue = {
    path,
    code: 'not_i_json',
    message: `${path}: member name appears more than once in its object (RFC 7493 §2.3)`,
  };
  return new ApiError('duplicate_member', issue.message, [issue]);
}

function tooDeep(at: readonly (string | number)[], depth: number): ApiError {
  // The first levels say where; the whole path could be 128 segments long.
  const where = pointer(at, Math.min(depth, 3)) || '/';
  return new ApiError(
    'json_too_deep',
    `arrays and objects nest more than ${MAX_REQUEST_DEPTH} levels deep (under ${where})`,
  );
}

/**
 * Every JSON request body goes through {@link parseRequestJson} instead of Hono's
 * `JSON.parse(await c.req.text())` (which decodes bad UTF-8 to U+FFFD and keeps the last of
 * duplicate members); the routes' validators then read the parsed value. Bodies of other
 * types are left to the routes (415 from `requireJson`). A route middleware (router.ts): a
 * request that matches no route (404, 405) is answered without its body being read.
 */
export const strictJsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const type = c.req.header('content-type');
  if (hasBody(c.req.method) && isJsonType(type)) {
    refuseOtherCharsets(type);
    const bytes = new Uint8Array(await readBody(c));
    if (bytes.length > 0) {
      const value = parseRequestJson(bytes);
      // What the validators of @hono/zod-openapi read; HonoRequest has no cache for it.
      c.req.json = <T>() => Promise.resolve(value as T);
    }
  }
  await next();
});

export const hasBody = (method: string) => method !== 'GET' && method !== 'HEAD';

/** A media type of JSON (`application/json`, `application/…+json`), parameters aside. */
export const isJsonType = (type: string | undefined): type is string =>
  type !== undefined && JSON_MEDIA_TYPE.test(type.split(';')[0]?.trim() ?? '');

/**
 * A JSON request's whole Content-Type as the routes' validator (`@hono/zod-openapi`, patched
 * in `patches/` for RFC 9110's parameters) takes it: `application/json` or
 * `application/<letters, dots, dashes>+json`, and parameters each `token=value`. Written
 * again here so that `requireJson` refuses before the body is read what the validator would
 * refuse after (a review found `application/vnd.api.v2+json` told `100 Continue`, then 415);
 * a test holds the two to the same verdicts.
 */
export const JSON_REQUEST_TYPE =
  /^application\/([a-z-.]+\+)?json(?:[\t ]*;(?:[\t ]*[!#$%&'*+.^_`|~0-9a-z-]+=(?:[!#$%&'*+.^_`|~0-9a-z-]+|"(?:[\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"))?)*[\t ]*$/i;

/**
 * The request's body, read once (Hono keeps the bytes for a second reader), the request
 * budget paused while it arrives; a read the client broke off is 400 `malformed_http`.
 */
export async function readBody(c: Context<AppEnv>): Promise<ArrayBuffer> {
  const arrived = bodyArriving(c);
  try {
    return await c.req.arrayBuffer();
  } catch (error) {
    throw bodyNotReceived(error);
  } finally {
    arrived();
  }
}

/** What WHATWG's Encoding standard reads as UTF-8. */
const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8']);

/**
 * JSON is UTF-8 (RFC 8259 §8.1, which defines no charset parameter): a charset naming another
 * encoding is 415, since its bytes read as UTF-8 could sign other text than the client meant
 * (latin-1 `Ã©` is UTF-8 `é`). Every charset parameter counts, however many there are.
 */
function refuseOtherCharsets(type: string): void {
  for (const [name, charset] of mediaTypeParameters(type)) {
    if (name !== 'charset' || UTF8_LABELS.has(charset.toLowerCase())) continue;
    throw new ApiError(
      'unsupported_media_type',
      `Content-Type names charset ${JSON.stringify(charset)}; JSON bodies are UTF-8 (send charset=utf-8 or none)`,
    );
  }
}

/**
 * The parameters of a media type, names in lower case, in order, duplicates kept: `;`
 * separates them outside quoted strings, and a value is a token or a quoted string whose
 * quoted pairs (`\x`) stand for their character (RFC 9110 §5.6.4, §5.6.6). A quoted string
 * without its closing quote is 415.
 */
function mediaTypeParameters(type: string): [string, string][] {
  const parameters: [string, string][] = [];
  let at = type.indexOf(';');
  while (at >= 0) {
    const equals = type.indexOf('=', at + 1);
    const next = type.indexOf(';', at + 1);
    if (equals < 0 || (next >= 0 && next < equals)) {
      at = next;
      continue;
    }
    const name = type
      .slice(at + 1, equals)
      .trim()
      .toLowerCase();
    let i = equals + 1;
    while (type[i] === ' ' || type[i] === '\t') i++;
    if (type[i] !== '"') {
      const end = type.indexOf(';', i);
      parameters.push([name, type.slice(i, end < 0 ? undefined : end).trim()]);
      at = end;
      continue;
    }
    let value = '';
    for (i++; i < type.length && type[i] !== '"'; i++) {
      if (type[i] === '\\') i++;
      value += type[i] ?? '';
    }
    // A quoted string that never ends could hide a charset in what it swallowed.
    if (i >= type.length)
      throw new ApiError(
        'unsupported_media_type',
        'Content-Type has a quoted string that never ends',
      );
    parameters.push([name, value]);
    at = type.indexOf(';', i);
  }
  return parameters;
}

/**
 * Pauses the request budget while the body arrives (the client's time, not the work's), and
 * returns what to call once its last byte is in (or the read failed): the budget resumes
 * (middleware.ts).
 */
function bodyArriving(c: Context<AppEnv>): () => void {
  c.get('bodyStarted')?.();
  return () => c.get('bodyArrived')?.();
}

/**
 * A body read that fails is the client's doing: it closed or reset the connection before
 * sending all it announced (Node rejects the read with ECONNRESET "aborted"), or Node's
 * request timeout cut it off. 400 `malformed_http` (an incomplete message), logged as an
 * ordinary request, where its ECONNRESET alone would have read as a database outage (503,
 * logged as an error). Nobody reads the answer; the logs and metrics do.
 */
function bodyNotReceived(cause: unknown): ApiError {
  return new ApiError(
    'malformed_http',
    'the connection closed before the whole request body arrived',
    undefined,
    { cause },
  );
}

/**
 * 415 `unsupported_content_encoding` for a body with a Content-Encoding other than
 * `identity`, before any of it is read (RFC 9110 §8.4.1): bodies are not decoded, so a gzip
 * body was refused as bad UTF-8, and plain JSON under a made-up coding was signed although
 * the client said its bytes meant something else.
 */
export const requireIdentityEncoding = createMiddleware<AppEnv>(async (c, next) => {
  // An empty value lists no coding (RFC 9110 §5.6.1's list rules), as identity does.
  const encoding = c.req.header('content-encoding');
  const coding = encoding?.trim();
  if (hasBody(c.req.method) && coding && !/^identity$/i.test(coding)) {
    throw new ApiError(
      'unsupported_content_encoding',
      `Content-Encoding is ${JSON.stringify(encoding)}; send the body as is, without one`,
    );
  }
  await next();
});

/**
 * 413 `body_too_large` past `maxBytes`, in two steps. A declared Content-Length is judged
 * from the header, before the caller is known (Node's parser then reads exactly that many
 * bytes): this middleware, on the app. A body without one (chunked) is counted as it streams
 * by {@link routeBody}, only once the caller is known (an outside retest held a connection
 * for the request timeout with an unfinished chunked body and no credentials, then got 408,
 * not 401).
 */
export function declaredBodyLimit(maxBytes: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!hasBody(c.req.method) || streams(c)) return next();
    const declared = c.req.header('content-length') as string;
    if (Number.parseInt(declared, 10) > maxBytes) return tooLarge(c, maxBytes);
    return next();
  };
}

/**
 * A route's body, read once its own middleware has passed (router.ts): a key of a role the
 * route is not for, or a body of another media type, is refused before the body is read, so
 * a client that sent `Expect: 100-continue` is not told to send it (an auditor's issue got
 * `100 Continue`, then its 403); a request that matches no route (404, 405) is answered
 * without it. A chunked body is counted as it arrives (413 past the limit), then a JSON one
 * is parsed strictly ({@link strictJsonBody}).
 */
export const routeBody: MiddlewareHandler<AppEnv> = (c, next) => {
  const parse = async () => {
    await strictJsonBody(c, next);
  };
  if (!hasBody(c.req.method) || !streams(c)) return parse();
  return streamedBodyLimit(c.get('services').config.maxBodyBytes)(c, parse);
};

const streams = (c: Context<AppEnv>) =>
  c.req.header('content-length') === undefined || c.req.header('transfer-encoding') !== undefined;

const tooLarge = (c: Context<AppEnv>, maxBytes: number) =>
  renderError(new ApiError('body_too_large', `the limit is ${maxBytes} bytes`), c);

/**
 * Hono's bodyLimit, which reads the whole body before it calls next, with the request budget
 * paused while it does. Hono's middleware alone would touch `c.req.raw.body` on every
 * request, which makes the Node adapter build a web Request and stream for it: about a tenth
 * of an issue request's CPU, measured (issue 14); so only chunked bodies go through it.
 */
function streamedBodyLimit(maxBytes: number): MiddlewareHandler<AppEnv> {
  // Made for each chunked request (a closure; they are rare), as the limit is the app's.
  const streaming = bodyLimit({ maxSize: maxBytes, onError: (c) => tooLarge(c, maxBytes) });
  // bodyLimit reads the whole body before it calls next: what fails until then is the read.
  return async (c, next) => {
    let reading = true;
    const arrived = bodyArriving(c);
    const done = () => {
      if (!reading) return;
      reading = false;
      arrived();
    };
    try {
      return await streaming(c, () => {
        done();
        return next();
      });
    } catch (error) {
      const failedReading = reading;
      done();
      throw failedReading ? bodyNotReceived(error) : error;
    } finally {
      done();
    }
  };
}
