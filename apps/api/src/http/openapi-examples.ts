import { PROBLEMS, type ProblemCode } from './problem';
import { RETRY_AFTER } from './schemas';

// Examples for the OpenAPI document, added by path and method to the document the routes
// generate (the routes own their schemas; this module owns what a reader sees as a sample).
// Values come from a real run of the service (merchant `acme`, order `order-42`); timestamp
// tokens are shortened, where an ellipsis marks it.

interface Example {
  summary: string;
  description?: string;
  value?: unknown;
}

interface OperationExamples {
  request?: Record<string, Example>;
  /** By status; the media type is whatever the route documents for that status. */
  responses?: Record<string, Record<string, Example>>;
  /** Problem codes this route answers beyond the usual ones of each status. */
  problems?: ProblemCode[];
}

const MERCHANT = 'acme';
const KID = 'acme-2026Q4';
const RECEIPT_ID = 'trcpt_01M8GWFVG6BFM05X6QRF64CG3F';
const TSA = 'CN=Quittance Test TSA,O=Quittance Test';
const TOKEN = 'MIIF2wYJKoZIhvcNAQcCoIIFzDCCBcgCAQMxDzANBglghkgBZQMEAgEFADCBwAYL…';
const CHECKPOINT_JWS =
  'eyJhbGciOiJFZERTQSIsImtpZCI6ImFjbWUtMjAyNlE0IiwidHlwIjoicXVpdHRhbmNlLWNoZWNrcG9pbnQrandzIn0..yAyI6dXYuBoPkJPjbB7bJzzxzhW1mWx62JwnWT19IxP6DrORAXtWZAcJdj8RfOjCsT0ljsj8my6W8jNu_yOBCw';

const ISSUE_REQUEST = {
  callId: 'call-0004',
  agentId: 'agent-7',
  bucket: 'checkout',
  tool: 'complete_checkout',
  orderId: 'order-42',
  input: { cart: 'c-1', items: [{ sku: 'A-1', qty: 2 }] },
  output: { ok: true, total: '19.90' },
};

/** A receipt as the API answers it right after issuing: signed and chained, not yet timestamped. */
const ISSUED = {
  agentId: 'agent-7',
  bucket: 'checkout',
  callId: 'call-0004',
  createdAt: '2026-11-28T10:51:20.454Z',
  id: RECEIPT_ID,
  inputHash: '7411b49c1c7f7c229b3b12fb68977c2606472ceb074bb87b0df22daac2306b2f',
  jwksSnapshotUrl: 'https://quittance.example/.well-known/jwks/snapshot/2026-11.json',
  merchantId: MERCHANT,
  orderId: 'order-42',
  outputHash: 'e3d19dcda47b524207e863ae1f8a41c2943e7b5a44e93c994d16451925cefcb0',
  schemaVersion: '1',
  signingKeyKid: KID,
  tool: 'complete_checkout',
  jws: 'eyJhbGciOiJFZERTQSIsImtpZCI6ImFjbWUtMjAyNlE0IiwidHlwIjoicXVpdHRhbmNlLXJlY2VpcHQrandzIn0..NzQsuOaGwAtMxsx3cPfEmQR7kSWng2gLDN-MLn-45qS_3OV3_1Hm9Z6M5eFbM_9-dqsMdRD-KCVRXejl2l1dCg',
  legal_posture: 'signed',
  timestamp: null,
  chain: {
    seq: 4,
    prevHash: '37493cd89f623696823b3c105cb015a6541360000a8f30736f6306444c9a5c50',
    entryHash: '5f2fc382ce0899a6a87860056ce21bf056d2c9dbbd7f024e3526f01b96ac033d',
  },
};

/** The same receipt once the TSA has answered (SPEC §3). */
const TIMESTAMPED = {
  ...ISSUED,
  legal_posture: 'ades_candidate_timestamped',
  timestamp: {
    tsa: TSA,
    token: TOKEN,
    policy: '1.3.6.1.4.1.99999.1',
    genTime: '2026-11-28T10:51:20.000Z',
  },
};

const CHECKPOINT_4 = {
  createdAt: '2026-11-28T10:51:21.251Z',
  entryHash: '5f2fc382ce0899a6a87860056ce21bf056d2c9dbbd7f024e3526f01b96ac033d',
  merchantId: MERCHANT,
  rootHash: '3d4401c5a17ab2b730808c69bacb4fde526f411884ff72533ee14b449144abb9',
  seq: 4,
  signingKeyKid: KID,
  jws: 'eyJhbGciOiJFZERTQSIsImtpZCI6ImFjbWUtMjAyNlE0IiwidHlwIjoicXVpdHRhbmNlLWNoZWNrcG9pbnQrandzIn0..HxDAGDU9KJ3EY-GRF2z5cADAeFFke9Vt1FsyjS2tIh2_6DbPRquicmgW7VoeY8uywLqQ-OKnd2J7ZAVPkrzBDw',
  timestamp: {
    tsa: TSA,
    token: TOKEN,
    policy: '1.3.6.1.4.1.99999.1',
    genTime: '2026-11-28T10:51:21.000Z',
  },
};

const CHECKPOINT_6 = {
  createdAt: '2026-11-28T10:51:22.343Z',
  entryHash: '04850a4440b311052c6a565042313077d2ab97f37f76cab315b3b6d1ee4cda8f',
  merchantId: MERCHANT,
  rootHash: '8b3e164a5e700d8c74a49320fe03c1a4022e1c50ada216b49a20f91e5f452e08',
  seq: 6,
  signingKeyKid: KID,
  jws: CHECKPOINT_JWS,
  timestamp: {
    tsa: TSA,
    token: TOKEN,
    policy: '1.3.6.1.4.1.99999.1',
    genTime: '2026-11-28T10:51:22.000Z',
  },
};

const EXPORT_QUEUED = {
  id: 'exp_01M8GWFXRCQ4Y6J905J29YC574',
  status: 'queued',
  jurisdiction: 'EU',
  includeBodies: true,
  from: null,
  // The window ends when the export was asked for (or at an earlier `to` given).
  to: '2026-11-28T10:51:22.771Z',
  orderId: null,
  progress: { receipts: 0, total: null },
  bytes: null,
  sha256: null,
  error: null,
  createdAt: '2026-11-28T10:51:22.773Z',
  finishedAt: null,
};

const PUBLIC_JWK = {
  kty: 'OKP',
  crv: 'Ed25519',
  x: 'KfVAyN7Jl_d8gksDSgd0-WMoOoTrGftNe_vqAeeL1AY',
  kid: KID,
  alg: 'EdDSA',
  use: 'sig',
};

const one = (summary: string, value: unknown, description?: string) => ({
  [summary.toLowerCase().replace(/[^a-z0-9]+/g, '-')]: {
    summary,
    value,
    ...(description ? { description } : {}),
  },
});

const zip = (summary: string, files: string) => ({
  zip: {
    summary,
    description: `A zip (not shown here) holding ${files}. Verify it offline with \`npx quittance verify FILE.zip --publisher publisher.json\` or the verifier page at /verify.`,
  },
});

/** Examples by `METHOD path` as the document names them. */
const EXAMPLES: Record<string, OperationExamples> = {
  'GET /healthz': { responses: { 200: one('Alive', { status: 'ok' }) } },
  'GET /readyz': {
    responses: {
      200: one('Ready', { status: 'ok' }),
      503: one('Not ready (database down or shutting down)', { status: 'unready' }),
    },
  },
  'GET /metrics': {
    responses: {
      200: one(
        'Prometheus text',
        '# HELP quittance_receipts_issued_total Receipts issued\n# TYPE quittance_receipts_issued_total counter\nquittance_receipts_issued_total{bucket="checkout",outcome="created"} 4\n',
      ),
    },
  },
  'GET /.well-known/jwks.json': { responses: { 200: one('Keys', { keys: [PUBLIC_JWK] }) } },
  'GET /.well-known/jwks/snapshot/{file}': {
    responses: {
      200: one('Signed snapshot of 2026-11', {
        period: '2026-11',
        version: 2,
        issuedAt: '2026-11-28T10:51:20.264Z',
        prevSnapshotHash: 'd91f6e1d0b4384793d9687a6105e86f715755064f057889b57ba9ffb87a21f3d',
        keys: [
          {
            ...PUBLIC_JWK,
            merchantId: MERCHANT,
            nbf: '2026-11-28T10:51:20.264Z',
            exp: null,
            status: 'active',
          },
        ],
        revocations: [],
        jws: 'eyJhbGciOiJFZERTQSIsImtpZCI6InB1Ymxpc2hlci0tTWJWV1JxaExlaUl1STlIIiwidHlwIjoicXVpdHRhbmNlLWp3a3Mtc25hcHNob3QrandzIn0..ajfCJoFrM0Mx38-nabNSNKp9S3w_JGcceNGQgrPFgPdPAmoxmtE2xySnjAeJF57i21hJxGFJpn8iyceOsbzgBg',
      }),
    },
  },
  'GET /.well-known/quittance-publisher.json': {
    responses: {
      200: one('The key to pin', {
        keys: [
          {
            ...PUBLIC_JWK,
            kid: 'publisher--MbVWRqhLeiIuI9H',
            x: 'X1s3JXj1FmzyG1oVTSJ3QrV9wHu006eVbt3wmi1iJsY',
          },
        ],
      }),
    },
  },
  'POST /api/v1/trust/receipts': {
    request: {
      ...one('With bodies (hashed and vaulted)', ISSUE_REQUEST),
      ...one('With hashes only (bodies stay with the merchant)', {
        callId: 'call-0005',
        agentId: 'agent-7',
        bucket: 'discovery',
        tool: 'search_catalog',
        inputHash: ISSUED.inputHash,
        outputHash: ISSUED.outputHash,
      }),
    },
    responses: {
      201: one('Issued', ISSUED),
      200: one('The same callId and content again: the first receipt', TIMESTAMPED),
    },
    problems: ['call_id_conflict', 'signing_input_too_large', 'signer_unavailable'],
  },
  'GET /api/v1/trust/receipts': {
    responses: {
      200: one('A page of receipts', {
        receipts: [TIMESTAMPED],
        nextCursor: 'eyJzIjo1fQ',
      }),
    },
  },
  'GET /api/v1/trust/receipts/{id}': { responses: { 200: one('The receipt', TIMESTAMPED) } },
  'GET /api/v1/trust/receipts/by-order/{orderId}': {
    responses: {
      200: one('The order’s receipts, oldest first', {
        orderId: 'order-42',
        receipts: [TIMESTAMPED],
      }),
    },
    problems: ['order_too_large'],
  },
  'GET /api/v1/trust/receipts/by-order/{orderId}/evidence': {
    responses: {
      200: zip(
        'order-42-evidence.zip',
        'manifest.json and manifest.jws, receipts.jsonl, proofs.jsonl (one inclusion proof per receipt against one checkpoint), checkpoints.jsonl, the key snapshots, the TSA certificates, bodies.jsonl with ?includeBodies=true, and VERIFY.md',
      ),
    },
    problems: ['order_too_large'],
  },
  'GET /api/v1/trust/receipts/{id}/bodies': {
    responses: {
      200: one('The bodies, decrypted', {
        id: RECEIPT_ID,
        input: ISSUE_REQUEST.input,
        output: ISSUE_REQUEST.output,
      }),
    },
    problems: ['bodies_destroyed'],
  },
  'GET /api/v1/trust/receipts/{id}/proof': {
    responses: {
      200: one('Inclusion proof against checkpoint 6', {
        receiptId: RECEIPT_ID,
        seq: 4,
        treeSize: 6,
        auditPath: [
          'bec235205c3e27cb916f2712300352ab406856ec04bda5f536a6ef13c3512c64',
          '4d8c64680045b8fde0504c92aee68d40626ebba7563a7a824048ec38c216484e',
          '0d721949eaa2fef7caae11b9824c4ba074853f5d2093897e29ff6da2c9b7e416',
        ],
        checkpoint: CHECKPOINT_6,
      }),
    },
    problems: ['not_checkpointed'],
  },
  'GET /api/v1/trust/checkpoints': {
    responses: {
      200: one('Newest first', { checkpoints: [CHECKPOINT_6, CHECKPOINT_4], nextCursor: null }),
    },
  },
  'GET /api/v1/trust/checkpoints/consistency': {
    responses: {
      200: one('Checkpoint 4 is a prefix of checkpoint 6', {
        from: CHECKPOINT_4,
        to: CHECKPOINT_6,
        proof: ['0d721949eaa2fef7caae11b9824c4ba074853f5d2093897e29ff6da2c9b7e416'],
      }),
    },
  },
  'POST /api/v1/trust/exports': {
    request: {
      ...one('Everything, with bodies', { jurisdiction: 'EU', includeBodies: true }),
      ...one('One month of one order', {
        jurisdiction: 'US',
        from: '2026-11-01T00:00:00Z',
        to: '2026-12-01T00:00:00Z',
        orderId: 'order-42',
      }),
    },
    responses: { 202: one('Queued', EXPORT_QUEUED) },
  },
  'GET /api/v1/trust/exports/{id}': {
    responses: {
      200: {
        ...one('Running', {
          ...EXPORT_QUEUED,
          status: 'running',
          progress: { receipts: 4, total: 6 },
        }),
        ...one('Done', {
          ...EXPORT_QUEUED,
          status: 'done',
          progress: { receipts: 6, total: 6 },
          bytes: 15_053,
          sha256: '825f65fa1b78281ff1fb18265fea8046f8d5beb21944e6eb4e307a01e596b49a',
          finishedAt: '2026-11-28T10:51:23.263Z',
        }),
      },
    },
  },
  'GET /api/v1/trust/exports/{id}/download': {
    responses: {
      200: zip(
        'export.zip',
        'manifest.json and manifest.jws, receipts.jsonl, chain.jsonl, checkpoints.jsonl, log.json, the key snapshots, the TSA certificates, bodies.jsonl if asked, and VERIFY.md',
      ),
    },
    problems: ['export_not_ready'],
  },
  'POST /admin/v1/merchants': {
    request: one('A merchant in the EU', {
      merchantId: MERCHANT,
      jurisdiction: 'EU',
      name: 'Acme Shop',
    }),
    responses: {
      201: one('Created', { merchantId: MERCHANT, jurisdiction: 'EU', signingKeyKid: KID }),
    },
    problems: ['merchant_exists'],
  },
  'POST /admin/v1/merchants/{merchantId}/api-keys': {
    request: {
      ...one('A merchant key', { role: 'merchant' }),
      ...one('An agent key (sees its own receipts)', { role: 'agent', agentId: 'agent-7' }),
    },
    responses: {
      201: one('Shown once', {
        apiKey: 'qtk_PWZMQAT4115JC747_3VPE7qGeApirw9mf-AlX6Mgrl_ZtszKPf6Yy4KsU7Ss',
        prefix: 'qtk_PWZMQAT4115JC747',
        role: 'merchant',
      }),
    },
  },
  'POST /admin/v1/merchants/{merchantId}/signing-keys/rotate': {
    responses: { 201: one('The new active key', { kid: 'acme-2026Q4-2' }) },
    problems: ['signing_keys_changed'],
  },
  'POST /admin/v1/signing-keys/{kid}/revoke': {
    request: one('Compromised key', { reason: 'keyCompromise' }),
    responses: {
      200: one('Revoked; the current snapshot is re-issued', {
        kid: 'acme-2026Q4-2',
        revokedAt: '2026-11-28T10:51:23.483Z',
        reason: 'keyCompromise',
        replacementKid: 'acme-2026Q4-3',
      }),
    },
    problems: ['key_revoked', 'signing_keys_changed'],
  },
  'GET /admin/v1/merchants/{merchantId}/chain-check': {
    responses: {
      200: one('Every link recomputes', {
        ok: true,
        merchantId: MERCHANT,
        checked: 6,
        head: { seq: 6, entryHash: CHECKPOINT_6.entryHash },
        problems: [],
      }),
    },
  },
};

/** Problems any route may answer with its status; route-specific ones are listed above. */
const SPECIFIC = new Set<ProblemCode>([
  'call_id_conflict',
  'signing_input_too_large',
  'order_too_large',
  'signer_unavailable',
  'bodies_destroyed',
  'not_checkpointed',
  'export_not_ready',
  'merchant_exists',
  'key_revoked',
  'signing_keys_changed',
  // Answered by Node's HTTP parser or the listener before any route (http/client-errors.ts).
  'malformed_http',
  'unsupported_transfer_encoding',
  'headers_too_large',
  'expectation_failed',
  'request_timeout',
]);
/** Problems about a request body, answered only by routes that take one. */
const BODY = new Set<ProblemCode>([
  'invalid_json',
  'invalid_utf8',
  'duplicate_member',
  'json_too_deep',
  'body_too_large',
  'unsupported_media_type',
  'unsupported_content_encoding',
]);

const DETAIL: Partial<Record<ProblemCode, string>> = {
  invalid_request: 'bucket: Invalid option: expected one of "discovery"|"customer"|"checkout"',
  unauthorized: 'send Authorization: Bearer <api key>',
  forbidden: 'agent keys may not do this; it needs merchant',
  not_found: 'no such resource',
  not_checkpointed: 'no checkpoint covers seq 4 yet; retry after the next one',
  call_id_conflict: `callId call-0004 was issued as ${RECEIPT_ID} with different content`,
  body_too_large: 'the limit is 1048576 bytes',
};

function problemExample(code: ProblemCode): Example {
  const { status, title } = PROBLEMS[code];
  return {
    summary: code,
    value: {
      type: `/docs#problem-${code}`,
      title,
      status,
      code,
      ...(DETAIL[code] ? { detail: DETAIL[code] } : {}),
      requestId: '6f1c2a9e-5b7d-4e0a-9c3f-2d8b1e4a7c60',
      ...(code === 'invalid_request'
        ? {
            errors: [
              {
                path: '/bucket',
                code: 'invalid_format',
                message: 'bucket: Invalid option: expected one of "discovery"|"cart"|"checkout"',
              },
            ],
          }
        : {}),
    },
  };
}

interface Operation {
  requestBody?: { content?: Record<string, { examples?: Record<string, Example> }> };
  responses?: Record<
    string,
    {
      description?: string;
      headers?: Record<string, unknown>;
      content?: Record<string, { schema?: unknown; examples?: Record<string, Example> }>;
    }
  >;
}

/** Operations that never read the database. */
const FROM_THE_PROCESS = new Set(['/healthz', '/metrics']);

/** The problem+json schema every route's problems refer to (schemas.ts's ProblemSchema). */
const PROBLEM_SCHEMA = '#/components/schemas/Problem';

/**
 * The document with examples: request bodies and answers of each operation, and one example
 * per problem code each problem+json answer may carry. Every operation also gets the 503 any
 * of them may answer. Returns a copy; applying it twice gives the same document.
 */
export function withExamples<T>(document: T): T {
  const copy = structuredClone(document) as T & {
    paths?: Record<string, Record<string, Operation>>;
  };
  for (const [path, operations] of Object.entries(copy.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      // Any operation that reads the database may find it unavailable, or run past the
      // request budget; /healthz and /metrics answer from the process alone.
      operation.responses ??= {};
      if (!FROM_THE_PROCESS.has(path))
        operation.responses['503'] ??= {
          description: 'Problem (RFC 9457); retry after Retry-After',
          headers: RETRY_AFTER,
          content: { 'application/problem+json': { schema: { $ref: PROBLEM_SCHEMA } } },
        };
      const examples = EXAMPLES[`${method.toUpperCase()} ${path}`] ?? {};
      const requestJson = operation.requestBody?.content?.['application/json'];
      if (requestJson && examples.request) requestJson.examples = examples.request;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        for (const [type, media] of Object.entries(response.content ?? {})) {
          if (type === 'application/problem+json') {
            media.examples = problemExamples(
              Number(status),
              // A route that takes no body still reads one to refuse it (router.ts, 415).
              requestJson !== undefined || '415' in (operation.responses ?? {}),
              examples.problems ?? [],
            );
          } else {
            const given = examples.responses?.[status];
            if (given) media.examples = given;
          }
        }
      }
    }
  }
  return copy;
}

function problemExamples(
  status: number,
  hasBody: boolean,
  specific: ProblemCode[],
): Record<string, Example> {
  const codes = (Object.keys(PROBLEMS) as ProblemCode[]).filter(
    (code) =>
      PROBLEMS[code].status === status &&
      (specific.includes(code) || (!SPECIFIC.has(code) && (hasBody || !BODY.has(code)))),
  );
  return Object.fromEntries(codes.map((code) => [code, problemExample(code)]));
}
