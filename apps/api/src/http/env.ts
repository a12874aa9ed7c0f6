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
    /**
     * Called by a body reader as it starts waiting for the body: the budget pauses, as that
     * is the client's time (the request timeout governs it), not the work's.
     */
    bodyStarted: (() => void) | undefined;
    /** Called by a body reader once the body's last byte is in: the budget resumes. */
    bodyArrived: (() => void) | undefined;
    /** A signal aborted when the request budget runs out: work waiting to start gives up. */
    deadline: () => AbortSignal;
  };
};
