import { z } from '@hono/zod-openapi';
import {
  BUCKETS,
  HASH_PATTERN,
  IDENTIFIER_MAX_LENGTH,
  IDENTIFIER_PATTERN,
  isRfc3339,
  KID_PATTERN,
  NONCE_MAX_LENGTH,
  NONCE_PATTERN,
  RECEIPT_ID_PATTERN,
} from '@quittance/format';

/** SPEC §1 identifier: 1-128 of [A-Za-z0-9._:~-]. */
export const Identifier = z.string().min(1).max(IDENTIFIER_MAX_LENGTH).regex(IDENTIFIER_PATTERN);
const Hash = z.string().regex(HASH_PATTERN).openapi({ example: 'a3f1…(64 lowercase hex)' });
/** A real RFC 3339 instant (no 30 February, no hour 24, years 0001-9999): see isRfc3339. */
export const Rfc3339 = z
  .string()
  .refine(isRfc3339, { message: 'must be an RFC 3339 date-time that names a real instant' });

/**
 * One assertion, kept exactly as sent. Not `z.record()`: it rebuilds the object and drops a
 * member named `__proto__` (or, for an object value, turns it into the prototype), so the
 * receipt would sign something else than the caller sent. The value is the parsed JSON's
 * own object, which holds `__proto__` as an ordinary own member, like `input` does.
 */
const Assertion = z
  .custom<Record<string, unknown>>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    { message: 'must be a JSON object', params: { code: 'invalid_type' } },
  )
  .openapi({ type: 'object', additionalProperties: {} });
const Assertions = z.array(Assertion).max(64);

export const IssueRequestSchema = z
  .strictObject({
    callId: Identifier.openapi({
      example: 'call-0001',
      description: "The merchant's id for the agent call; idempotency key",
    }),
    agentId: Identifier.openapi({ example: 'agent-7' }),
    bucket: z.enum(BUCKETS),
    tool: Identifier.openapi({ example: 'complete_checkout' }),
    orderId: Identifier.optional().openapi({ example: 'order-42' }),
    nonce: z.string().min(1).max(NONCE_MAX_LENGTH).regex(NONCE_PATTERN).optional(),
    trust_provider_assertions: Assertions.optional().openapi({
      description:
        'Agent identity assertions (e.g. RFC 9421 signatures), passed through and signed',
    }),
    input: z
      .unknown()
      .optional()
      .openapi({ description: 'Tool input (any JSON); hashed and vaulted' }),
    output: z
      .unknown()
      .optional()
      .openapi({ description: 'Tool output (any JSON); hashed and vaulted' }),
    inputHash: Hash.optional().openapi({
      description: 'SHA-256 hex of JCS(input), when bodies are not sent',
    }),
    outputHash: Hash.optional(),
  })
  .superRefine((body, ctx) => {
    const bodies = 'input' in body || 'output' in body;
    const hashes = body.inputHash !== undefined || body.outputHash !== undefined;
    if (bodies && hashes) {
      ctx.addIssue({
        code: 'custom',
        message: 'send input and output, or inputHash and outputHash, not both',
        params: { code: 'conflict' },
      });
    } else if (bodies) {
      for (const name of ['input', 'output'] as const) {
        if (!(name in body))
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `${name} is required`,
            params: { code: 'required' },
          });
      }
    } else if (hashes) {
      for (const name of ['inputHash', 'outputHash'] as const) {
        if (body[name] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `${name} is required`,
            params: { code: 'required' },
          });
      }
    } else {
      ctx.addIssue({
        code: 'custom',
        message: 'input and output, or inputHash and outputHash, are required',
        params: { code: 'required' },
      });
    }
    // I-JSON (lone surrogates, which JSON.parse accepts) is checked once, while canonicalizing.
  })
  .openapi('IssueRequest');

export const ReceiptSchema = z
  .object({
    schemaVersion: z.literal('1'),
    id: z.string().openapi({ example: 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W' }),
    merchantId: z.string(),
    callId: z.string(),
    agentId: z.string(),
    orderId: z.string().optional(),
    bucket: z.enum(BUCKETS),
    tool: z.string(),
    inputHash: z.string(),
    outputHash: z.string(),
    createdAt: z.string().openapi({ example: '2026-11-20T10:15:30.123Z' }),
    signingKeyKid: z.string().openapi({ example: 'acme-2026Q4' }),
    jwksSnapshotUrl: z.string(),
    nonce: z.string().optional(),
    trust_provider_assertions: z.array(z.record(z.string(), z.unknown())).optional(),
    jws: z.string().openapi({ description: 'Detached compact JWS (header..signature), SPEC §2' }),
    legal_posture: z.enum(['signed', 'ades_candidate_timestamped']),
    timestamp: z
      .object({ token: z.string(), genTime: z.string(), tsa: z.string(), policy: z.string() })
      .nullable(),
    chain: z.object({ seq: z.number().int(), prevHash: z.string(), entryHash: z.string() }),
  })
  .openapi('Receipt');

const TimestampSchema = z
  .object({ token: z.string(), genTime: z.string(), tsa: z.string(), policy: z.string() })
  .nullable();

export const CheckpointSchema = z
  .object({
    merchantId: z.string(),
    seq: z.number().int(),
    entryHash: z.string(),
    rootHash: z.string().openapi({ description: 'RFC 9162 root of entries 1..seq (SPEC §6.1)' }),
    createdAt: z.string(),
    signingKeyKid: z.string(),
    jws: z
      .string()
      .openapi({ description: 'Detached JWS, typ quittance-checkpoint+jws, by the merchant key' }),
    timestamp: TimestampSchema,
  })
  .openapi('Checkpoint');

export const InclusionProofSchema = z
  .object({
    receiptId: z.string(),
    seq: z.number().int(),
    treeSize: z.number().int().openapi({ description: "The checkpoint's seq" }),
    auditPath: z.array(z.string()).openapi({ description: 'Sibling hashes from the leaf up' }),
    checkpoint: CheckpointSchema,
  })
  .openapi('InclusionProof');

export const ConsistencyProofSchema = z
  .object({ from: CheckpointSchema, to: CheckpointSchema, proof: z.array(z.string()) })
  .openapi('ConsistencyProof');

/** A checkpoint's seq in a query: a positive integer, else 400. */
export const CheckpointSeq = z.coerce
  .number()
  .int()
  .min(1)
  .max(Number.MAX_SAFE_INTEGER)
  .openapi({ description: "A checkpoint's seq", example: 1000 });

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: 'Stable machine-readable error code' }),
    detail: z.string().optional(),
    requestId: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), code: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'Every invalid field, when the request was invalid' }),
  })
  .openapi('Problem');

export const ListQuerySchema = z.strictObject({
  agentId: Identifier.optional(),
  orderId: Identifier.optional(),
  bucket: z.enum(BUCKETS).optional(),
  tool: Identifier.optional(),
  from: Rfc3339.optional().openapi({ description: 'createdAt at or after (RFC 3339)' }),
  to: Rfc3339.optional().openapi({ description: 'createdAt before (RFC 3339)' }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: 'nextCursor of the previous page' }),
});

/**
 * Path parameters are checked against the rules of what they name before any query runs
 * (a NUL byte or a stray character never reaches the database); a parameter that cannot name
 * anything is 404 `not_found`, as for any unknown resource (see `createRouter`).
 */
const ULID = '[0-9A-HJKMNP-TV-Z]{26}';
export const EXPORT_ID_PATTERN = new RegExp(`^exp_${ULID}$`);
/** `qtk_<16 base32>`: the public part of an API key, as the admin API shows it. */
export const API_KEY_PREFIX_PATTERN = /^qtk_[0-9A-HJKMNP-TV-Z]{16}$/;

export const ReceiptIdParam = z.strictObject({
  id: z
    .string()
    .regex(RECEIPT_ID_PATTERN)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W' }),
});

export const ExportIdParam = z.strictObject({
  id: z
    .string()
    .regex(EXPORT_ID_PATTERN)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'exp_01JD5Z7Q8M3V9K2X4N6P8R0T2W' }),
});

export const OrderIdParam = z.strictObject({
  orderId: Identifier.openapi({ param: { name: 'orderId', in: 'path' }, example: 'order-42' }),
});

export const MerchantIdParam = z.strictObject({
  merchantId: Identifier.openapi({ param: { name: 'merchantId', in: 'path' }, example: 'acme' }),
});

export const ApiKeyPrefixParam = z.strictObject({
  prefix: z
    .string()
    .regex(API_KEY_PREFIX_PATTERN)
    .openapi({ param: { name: 'prefix', in: 'path' }, example: 'qtk_01JD5Z7Q8M3V9K2X' }),
});

export const KidParam = z.strictObject({
  kid: z
    .string()
    .regex(KID_PATTERN)
    .openapi({ param: { name: 'kid', in: 'path' }, example: 'acme-2026Q4' }),
});

/** Problem responses a route can give, for the OpenAPI document. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: 'Problem (RFC 9457)',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    ]),
  );
}

export function jsonContent<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}
