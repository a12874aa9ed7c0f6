import { z } from '@hono/zod-openapi';
import {
  BUCKETS,
  HASH_PATTERN,
  hasLoneSurrogate,
  IDENTIFIER_MAX_LENGTH,
  IDENTIFIER_PATTERN,
  type IssueRequestMember,
  isRfc3339,
  issueRequestContentIssues,
  isTimestampMs,
  JURISDICTIONS,
  KID_PATTERN,
  MAX_ASSERTIONS,
  NONCE_MAX_LENGTH,
  NONCE_PATTERN,
  RECEIPT_ID_PATTERN,
} from '@quittance/format';
import { ROLES } from '../auth/api-keys';
import { decimalNumber } from '../decimal-schema';

/**
 * Every request and response schema of the API, in one place: they validate requests and
 * make the OpenAPI document (GET /openapi.json, the generated client). Route files import
 * them from here, never from each other.
 */

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
const Assertions = z.array(Assertion).max(MAX_ASSERTIONS);

/** The members of an issue request; `satisfies` keeps them the members of format's rules. */
const issueRequestMembers = {
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
    description: 'Agent identity assertions (e.g. RFC 9421 signatures), passed through and signed',
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
} satisfies Record<IssueRequestMember, z.ZodType>;

export const IssueRequestSchema = z
  .strictObject(issueRequestMembers)
  .superRefine((body, ctx) => {
    // Bodies or hashes (SPEC §8), the rule of format's rules.ts.
    for (const issue of issueRequestContentIssues((member) => Object.hasOwn(body, member))) {
      ctx.addIssue({
        code: 'custom',
        ...(issue.path ? { path: [issue.path.slice(1)] } : {}),
        message: issue.message,
        params: { code: issue.code },
      });
    }
    // I-JSON (lone surrogates, which JSON.parse accepts) is checked once, while canonicalizing.
  })
  .openapi('IssueRequest');

/** RFC 3161 evidence of a receipt or checkpoint, null until attached (SPEC §4). */
const TimestampSchema = z
  .object({ token: z.string(), genTime: z.string(), tsa: z.string(), policy: z.string() })
  .nullable();

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
    timestamp: TimestampSchema,
    chain: z.object({ seq: z.number().int(), prevHash: z.string(), entryHash: z.string() }),
  })
  .openapi('Receipt');

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

/** A whole number in a query string, in decimal digits only (decimal-schema.ts). */
const queryInteger = (min: number, max: number) =>
  decimalNumber(min, max, { message: () => 'expected a whole number in decimal digits' });

/** A checkpoint's seq in a query: a positive integer, else 400. */
export const CheckpointSeq = queryInteger(1, Number.MAX_SAFE_INTEGER).openapi({
  description: "A checkpoint's seq",
  example: 1000,
});

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
        ...(status === 503 ? { headers: RETRY_AFTER } : {}),
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    ]),
  );
}

/** The header every 503 carries (openapi-examples.ts adds it where a route lists no 503). */
export const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    schema: { type: 'integer' as const, minimum: 0 },
  },
};

export function jsonContent<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON request body, required. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } };
}

/** A zip answered as a download (export bundles, order evidence). */
export function zipContent(description: string) {
  return {
    description,
    content: { 'application/zip': { schema: { type: 'string' as const, format: 'binary' } } },
  };
}

/**
 * No query parameters: a list that answers whole (the receipts of an order) refuses `limit`
 * or `cursor` with 400 instead of ignoring them, as the paged lists refuse what they do not
 * know.
 */
export const NoQuery = z.strictObject({});

/** Page size of the lists (SPEC §8: at most 500). */
const PageLimit = queryInteger(1, 500).default(100);

// Operations

export const HealthSchema = z.object({ status: z.enum(['ok', 'unready']) });

export const MetricsText = z.string();

// Keys (SPEC §5)

const Jwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string(),
  kid: z.string(),
  alg: z.literal('EdDSA'),
  use: z.literal('sig'),
});

export const JwksSchema = z.object({ keys: z.array(Jwk) }).openapi('Jwks');

export const PublisherKeysSchema = z.object({ keys: z.array(z.record(z.string(), z.string())) });

export const SnapshotFileParam = z.strictObject({
  file: z.string().openapi({ param: { name: 'file', in: 'path' }, example: '2026-11.json' }),
});

export const SnapshotVersionQuery = z.strictObject({
  // The column is a PostgreSQL integer: larger numbers are no version, not a server error.
  version: queryInteger(1, 2_147_483_647).optional(),
});

export const SnapshotDocumentSchema = z.unknown();

export const RotatedKeySchema = z.object({ kid: z.string() });

/**
 * A short free text (a merchant's name, a revocation's reason): any characters but U+0000,
 * which PostgreSQL's text cannot hold, and well-formed Unicode (SPEC §1): JSON.parse lets a
 * lone surrogate (`"\ud800"`) through, which no UTF-8 can store or sign.
 */
const FreeText = z
  .string()
  .min(1)
  .max(200)
  .refine((text) => !text.includes('\u0000'), { message: 'must not contain U+0000 (NUL)' })
  .refine((text) => !hasLoneSurrogate(text), {
    message: 'must be well-formed Unicode (a lone surrogate is not)',
  });

export const RevokeSigningKeyRequest = z.strictObject({
  reason: FreeText.openapi({ example: 'key_compromise' }),
  revokedAt: z
    .string()
    .refine(isTimestampMs, { message: 'must be RFC 3339 UTC with milliseconds and Z' })
    .optional(),
});

export const RevokedKeySchema = z.object({
  kid: z.string(),
  revokedAt: z.string(),
  reason: z.string(),
  replacementKid: z.string().nullable(),
  /**
   * Revoking now: whether the merchant's newest checkpoint, which covers every receipt before
   * the revocation, carries an RFC 3161 timestamp from before `revokedAt` (null: no TSA is
   * configured, or revokedAt was given). False when the TSA failed: those receipts stay
   * unproven (key_valid_at_issuance unknown).
   */
  checkpointTimestamped: z.boolean().nullable(),
});

// Merchants and API keys (admin)

export const CreateMerchantRequest = z.strictObject({
  // `.` and `..` are identifiers (SPEC §1), but a URL collapses them as path segments, even
  // percent-encoded: such a merchant would get a published key and no admin path to reach it.
  merchantId: Identifier.refine((id) => id !== '.' && id !== '..', {
    message:
      'cannot be "." or "..": the admin paths /admin/v1/merchants/{merchantId}/… could not name it',
  }).openapi({ example: 'acme' }),
  jurisdiction: z.enum(JURISDICTIONS),
  name: FreeText.optional(),
});

export const MerchantSchema = z.object({
  merchantId: z.string(),
  jurisdiction: z.enum(JURISDICTIONS),
  signingKeyKid: z.string(),
});

export const CreateApiKeyRequest = z
  .strictObject({ role: z.enum(ROLES), agentId: Identifier.optional() })
  .refine((b) => (b.role === 'agent') === (b.agentId !== undefined), {
    message: 'agentId is required for agent keys and only for them',
    path: ['agentId'],
  });

export const ApiKeySchema = z.object({
  apiKey: z.string(),
  prefix: z.string(),
  role: z.enum(ROLES),
  agentId: z.string().optional(),
});

// Receipts and the chain (SPEC §1, §6, §8)

export const ListQuerySchema = z.strictObject({
  agentId: Identifier.optional(),
  orderId: Identifier.optional(),
  bucket: z.enum(BUCKETS).optional(),
  tool: Identifier.optional(),
  from: Rfc3339.optional().openapi({ description: 'createdAt at or after (RFC 3339)' }),
  to: Rfc3339.optional().openapi({ description: 'createdAt before (RFC 3339)' }),
  limit: PageLimit,
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: 'nextCursor of the previous page' }),
});

export const ReceiptPageSchema = z.object({
  receipts: z.array(ReceiptSchema),
  nextCursor: z.string().nullable(),
});

export const OrderReceiptsSchema = z.object({
  orderId: z.string(),
  receipts: z.array(ReceiptSchema),
});

export const ChainCheckSchema = z.object({
  ok: z.boolean(),
  merchantId: z.string(),
  checked: z.number(),
  head: z.object({ seq: z.number(), entryHash: z.string() }),
  problems: z.array(z.string()),
});

// Vault (SPEC §7)

export const ReceiptBodiesSchema = z.object({
  id: z.string(),
  input: z.unknown(),
  output: z.unknown(),
});

// Transparency (SPEC §6.1, §9.1)

export const CheckpointListQuery = z.strictObject({
  limit: PageLimit,
  cursor: z.string().max(200).optional(),
});

export const CheckpointPageSchema = z.object({
  checkpoints: z.array(CheckpointSchema),
  nextCursor: z.string().nullable(),
});

export const ProofQuery = z.strictObject({ checkpoint: CheckpointSeq.optional() });

export const ConsistencyQuery = z.strictObject({ from: CheckpointSeq, to: CheckpointSeq });

export const EvidenceQuery = z.strictObject({
  includeBodies: z.enum(['true', 'false']).optional(),
});

// Exports (SPEC §9)

export const CreateExportRequest = z
  .strictObject({
    jurisdiction: z.enum(JURISDICTIONS),
    from: Rfc3339.optional(),
    to: Rfc3339.optional(),
    orderId: Identifier.optional(),
    includeBodies: z.boolean().optional(),
  })
  .refine((b) => !b.from || !b.to || Date.parse(b.from) < Date.parse(b.to), {
    message: 'from must be before to',
    path: ['from'],
  });

export const ExportSchema = z
  .object({
    id: z.string(),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    jurisdiction: z.enum(JURISDICTIONS),
    includeBodies: z.boolean(),
    from: z.string().nullable(),
    to: z.string().nullable().openapi({
      description:
        'where the window ends (exclusive): the to asked for, or when the export was asked for if earlier; null only for exports asked for before this was kept',
    }),
    orderId: z.string().nullable(),
    progress: z.object({ receipts: z.number(), total: z.number().nullable() }),
    bytes: z.number().nullable(),
    sha256: z.string().nullable().openapi({ description: 'SHA-256 of the zip, once done' }),
    error: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi('Export');
