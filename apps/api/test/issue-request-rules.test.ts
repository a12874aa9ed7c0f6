import { validateIssueRequest } from '@quittance/format';
import { describe, expect, it } from 'vitest';
import type { ZodError } from 'zod';
import { toFieldIssues } from '../src/http/router';
import { IssueRequestSchema } from '../src/http/schemas';

const good = {
  callId: 'call-1',
  agentId: 'agent:7',
  bucket: 'checkout',
  tool: 'complete_checkout',
  orderId: 'order~42',
  nonce: 'n 0!',
  input: { sku: 'A-1' },
  output: { ok: true },
};
const { input: _input, output: _output, ...withoutBodies } = good;
const hashed = { ...withoutBodies, inputHash: 'a'.repeat(64), outputHash: 'b'.repeat(64) };

/** Requests with one fault each (I-JSON is left out: the API checks it while canonicalizing). */
const CASES: [string, unknown][] = [
  ['bodies', good],
  ['hashes', hashed],
  ['callId of the wrong type', { ...good, callId: 7 }],
  ['agentId too long', { ...good, agentId: 'a'.repeat(129) }],
  ['tool with a space', { ...good, tool: 'bad tool' }],
  ['empty orderId', { ...good, orderId: '' }],
  ['nonce with a tab', { ...good, nonce: 'tab\there' }],
  ['unknown bucket', { ...good, bucket: 'refund' }],
  ['unknown member', { ...good, merchantId: 'evil' }],
  ['assertion that is not an object', { ...good, trust_provider_assertions: [1] }],
  ['65 assertions', { ...good, trust_provider_assertions: Array.from({ length: 65 }, () => ({})) }],
  ['64 assertions', { ...good, trust_provider_assertions: Array.from({ length: 64 }, () => ({})) }],
  ['only input', { ...withoutBodies, input: 1 }],
  ['only outputHash', { ...withoutBodies, outputHash: 'b'.repeat(64) }],
  ['bodies and hashes', { ...good, inputHash: 'a'.repeat(64) }],
  ['neither bodies nor hashes', withoutBodies],
  ['upper-case hash', { ...hashed, inputHash: 'A'.repeat(64) }],
  ['missing callId', { ...good, callId: undefined }],
  ['not an object', [1, 2]],
];

/** Paths and codes of each validator's issues. */
function formatIssues(body: unknown) {
  const result = validateIssueRequest(body);
  return result.ok ? [] : result.issues.map(({ path, code }) => ({ path, code }));
}
function schemaIssues(body: unknown) {
  const result = IssueRequestSchema.safeParse(body);
  if (result.success) return [];
  return toFieldIssues(result.error as unknown as ZodError).map(({ path, code }) => ({
    path,
    code,
  }));
}

describe("the API's issue request schema and format's validator apply the same rules", () => {
  it.each(CASES)('%s', (_name, value) => {
    const body = JSON.parse(JSON.stringify(value));
    const format = formatIssues(body);
    const schema = schemaIssues(body);
    // The same members are at fault, each with format's code among the schema's.
    expect(new Set(schema.map((i) => i.path))).toEqual(new Set(format.map((i) => i.path)));
    for (const issue of format) {
      expect(schema.filter((i) => i.path === issue.path).map((i) => i.code)).toContain(issue.code);
    }
  });
});
