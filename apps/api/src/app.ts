import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from './env';
import { renderDocsPage } from './http/docs-page';
import { renderError } from './http/errors';
import { strictJsonBody } from './http/json-body';
import { requestBudget, requestContext, requireAdmin, requireApiKey } from './http/middleware';
import { ApiError } from './http/problem';
import { checkChain } from './routes/admin/check-chain';
import { createApiKey } from './routes/admin/create-api-key';
import { createMerchant } from './routes/admin/create-merchant';
import { revokeApiKey } from './routes/admin/revoke-api-key';
import { revokeSigningKey } from './routes/admin/revoke-signing-key';
import { rotateSigningKey } from './routes/admin/rotate-signing-key';
import { checkpointConsistency } from './routes/checkpoint-consistency';
import { createExport } from './routes/create-export';
import { downloadExport } from './routes/download-export';
import { getExport } from './routes/get-export';
import { getReceipt } from './routes/get-receipt';
import { health } from './routes/health';
import { issueReceipt } from './routes/issue-receipt';
import { jwks } from './routes/jwks';
import { jwksSnapshot } from './routes/jwks-snapshot';
import { listCheckpoints } from './routes/list-checkpoints';
import { listReceipts } from './routes/list-receipts';
import { metrics } from './routes/metrics';
import { publisherKey } from './routes/publisher-key';
import { receiptBodies } from './routes/receipt-bodies';
import { receiptEvidence } from './routes/receipt-evidence';
import { receiptProof } from './routes/receipt-proof';
import { receiptsByOrder } from './routes/receipts-by-order';
import type { Services } from './services';

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
  const limit = bodyLimit({
    maxSize: services.config.maxBodyBytes,
    onError: (c) =>
      renderError(
        new ApiError('body_too_large', `the limit is ${services.config.maxBodyBytes} bytes`),
        c,
      ),
  });

  app.use('*', requestContext(services));
  // Bodies are parsed once, strictly (I-JSON, depth), after the caller is known.
  const budget = requestBudget(services.config.requestBudgetMs);
  app.use(`${API_BASE}/*`, budget, limit, requireApiKey, strictJsonBody);
  app.use(`${ADMIN_BASE}/*`, budget, limit, requireAdmin, strictJsonBody);

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
  app.get('/openapi.json', (c) => c.json(document()));
  app.get('/docs', (c) => c.html(renderDocsPage(document() as never)));

  app.notFound((c) =>
    renderError(new ApiError('not_found', `no route ${c.req.method} ${c.req.path}`), c),
  );
  app.onError(renderError);
  return app;
}

export type App = ReturnType<typeof createApp>;
