import type { Logger } from 'pino';
import type { Principal } from '../auth/api-keys';
import type { Services } from '../services';

/** Hono context of every request: built-once services, the caller, a request id. */
export type AppEnv = {
  Variables: {
    requestId: string;
    services: Services;
    logger: Logger;
    principal: Principal;
    /** Set while strictJsonBody waits for the body: the client is slow, not a dependency. */
    readingBody: boolean;
    /** A signal aborted when the request budget runs out: work waiting to start gives up. */
    deadline: () => AbortSignal;
  };
};
