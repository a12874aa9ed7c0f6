import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { JSON_REQUEST_TYPE } from '../src/http/json-body';

const WRITTEN: [string, boolean][] = [
  ['application/json', true],
  ['Application/JSON ; charset="utf-8"', true],
  ['application/merge-patch+json', true],
  ['application/json;charset=utf-8;q="a\\"b"', true],
  ['application/vnd.api.v2+json', false],
  ['application/json; foo', false],
  ['application/json; =x', false],
  ['application/jsonx', false],
  ['text/plain', false],
  ['', false],
];

/** Random types from the characters that matter, the same each run. */
function randomTypes(count: number): string[] {
  const alphabet = ['/', 'json', '+', '.', '-', 'a', 'Z', '2', '_', ';', '=', ' ', '\t', '"'];
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  const types: string[] = [];
  for (let i = 0; i < count; i++) {
    let rest = '';
    for (let n = next() % 12; n > 0; n--) rest += alphabet[next() % alphabet.length];
    types.push(`application/${rest}`, `application/json${rest}`, `application/a.b+json${rest}`);
  }
  return types;
}

describe('the JSON request media type', () => {
  // requireJson refuses before the body is read what the routes' validator would refuse
  // after it: the two must be one rule (a review found them apart).
  it("gives the routes' validator's verdicts (the patched @hono/zod-openapi)", async () => {
    const entry = createRequire(import.meta.url).resolve('@hono/zod-openapi');
    const theirs = /const jsonRequestRegex = \/(.+)\/i;/.exec(await readFile(entry, 'utf8'))?.[1];
    expect(theirs).toBeDefined();
    // Compared by verdicts: the two texts may differ by escapes that mean nothing.
    const validator = new RegExp(theirs as string, 'i');
    for (const type of [...WRITTEN.map(([type]) => type), ...randomTypes(3_000)])
      expect([type, JSON_REQUEST_TYPE.test(type)]).toEqual([type, validator.test(type)]);
  });

  it.each(WRITTEN)('%j: %s', (type, json) => {
    expect(JSON_REQUEST_TYPE.test(type)).toBe(json);
  });
});
