import { OpenAPIHono } from '@hono/zod-openapi';
import { readVerifierPage } from '@quittance/verifier-page';
import { createApiKey } from '../auth/routes/create-api-key';
import { revokeApiKey } from '../auth/routes/revoke-api-key';
import { checkChain } from '../chain/routes/check-chain';
import { getReceipt } from '../chain/routes/get-receipt';
import { issueReceipt } from '../chain/routes/issue-receipt';
import { listReceipts } from '../chain/routes/list-receipts';
import { receiptsByOrder } from '../chain/routes/receipts-by-order';
import { createExport } from '../exports/routes/create-export';
import { downloadExport } from '../exports/routes/download-export';
import { getExport } from '../exports/routes/get-export';
import { jwks } from '../keys/routes/jwks';
import { jwksSnapshot } from '../keys/routes/jwks-snapshot';
import { publisherKey } from '../keys/routes/publisher-key';
import { revokeSigningKey } from '../keys/routes/revoke-signing-key';
import { rotateSigningKey } from '../keys/routes/rotate-signing-key';
import { createMerchant } from '../merchants/routes/create-merchant';
import type { Services } from '../services';
import { checkpointConsistency } from '../transparency/routes/checkpoint-consistency';
import { listCheckpoints } from '../transparency/routes/list-checkpoints';
import { receiptEvidence } from '../transparency/routes/receipt-evidence';
import { receiptProof } from '../transparency/routes/receipt-proof';
import { receiptBodies } from '../vault/routes/receipt-bodies';
import { methodsAt } from './allowed-methods';
import { renderDocsPage } from './docs-page';
import type { AppEnv } from './env';
import { renderError } from './errors';
import { declaredBodyLimit, requireIdentityEncoding } from './json-body';
import { requestBudget, requestContext, requireAdmin, requireApiKey } from './middleware';
import { withExamples } from './openapi-examples';
import { ApiError } from './problem';
import { health } from './routes/health';
import { metrics } from './routes/metrics';

export const API_BASE = '/api/v1/trust';
export const ADMIN_BASE = '/admin/v1';

const OPENAPI_INFO = {
  title: 'Quittance API',
  version: '1.0.0',
  description:
    'Signed, chained, timestamped receipts for agent actions. Errors are application/problem+json ' +
    'with a stable `code`. Contract: SPEC.md.',
};

/** The whole HTTP application; routes are tested through `app.request()`. */
export function createApp(services: Services) {
  const app = new OpenAPIHono<AppEnv>();

  app.use('*', requestContext(services));
  // A coded body, or one declared over the limit, is refused before any of it is read and
  // before the caller is known; each route reads its body once the caller and the route's
  // own checks have passed, and parses it once, strictly (I-JSON, depth: router.ts).
  const budget = requestBudget(services.config.requestBudgetMs);
  for (const [base, caller] of [
    [API_BASE, requireApiKey],
    [ADMIN_BASE, requireAdmin],
  ] as const)
    app.use(
      `${base}/*`,
      budget,
      requireIdentityEncoding,
      declaredBodyLimit(services.config.maxBodyBytes),
      caller,
    );

  app.route('/', health);
  app.route('/', metrics);
  app.route('/', jwks);
  app.route('/', jwksSnapshot);
  app.route('/', publisherKey);
  // by-order before {id}: a literal segment wins over a parameter.
  app.route(API_BASE, receiptEvidence);
  app.route(API_BASE, receiptsByOrder);
  app.route(API_BASE, issueReceipt);
  app.route(API_BASE, listReceipts);
  app.route(API_BASE, receiptBodies);
  app.route(API_BASE, receiptProof);
  app.route(API_BASE, getReceipt);
  app.route(API_BASE, checkpointConsistency);
  app.route(API_BASE, listCheckpoints);
  app.route(API_BASE, createExport);
  app.route(API_BASE, downloadExport);
  app.route(API_BASE, getExport);
  app.route(ADMIN_BASE, createMerchant);
  app.route(ADMIN_BASE, createApiKey);
  app.route(ADMIN_BASE, revokeApiKey);
  app.route(ADMIN_BASE, rotateSigningKey);
  app.route(ADMIN_BASE, revokeSigningKey);
  app.route(ADMIN_BASE, checkChain);

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'API key of one merchant and one role (merchant, agent, auditor)',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'QUITTANCE_ADMIN_TOKEN',
  });
  const document = () =>
    app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      servers: [{ url: services.config.publicUrl }],
    });
  // The document is fixed for the life of the process but for its public URL (set once when
  // PORT=0): made once per URL, not per request. Built per request, a flood of pipelined
  // /openapi.json requests held the event loop for seconds (an outside review).
  const perPublicUrl = (make: () => string) => {
    let made: { url: string; text: string } | undefined;
    return () => {
      const url = services.config.publicUrl;
      if (made?.url !== url) made = { url, text: make() };
      return made.text;
    };
  };
  const openapiJson = perPublicUrl(() => JSON.stringify(withExamples(document())));
  const docsPage = perPublicUrl(() => renderDocsPage(document() as never));
  app.get('/openapi.json', (c) =>
    c.body(openapiJson(), 200, { 'content-type': 'application/json' }),
  );
  app.get('/docs', (c) => c.html(docsPage()));
  // The auditor's offline verifier page (packages/verifier-page), as built into dist/.
  app.get('/verify', async (c) => {
    const page = await readVerifierPage();
    if (!page)
      throw new ApiError(
        'not_found',
        'the verifier page is not built here: run npm run build:verifier-page',
      );
    return c.html(page);
  });

  // Read when first needed: every route is registered by then.
  let allowedAt: ((path: string) => string[]) | undefined;
  app.notFound((c) => {
    allowedAt ??= methodsAt(app.routes);
    const allowed = allowedAt(c.req.path);
    if (allowed.length === 0 || allowed.includes(c.req.method))
      return renderError(new ApiError('not_found', `no route ${c.req.method} ${c.req.path}`), c);
    c.header('allow', allowed.join(', '));
    return renderError(
      new ApiError(
        'method_not_allowed',
        `${c.req.method} is not allowed on ${c.req.path}; it answers ${allowed.join(', ')}`,
      ),
      c,
    );
  });
  app.onError(renderError);
  return app;
}

export type App = ReturnType<typeof createApp>;
