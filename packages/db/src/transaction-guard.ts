import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Inside a transaction only the transaction handle may be used. On PGlite (one connection)
 * a query through the outer handle waits for the transaction that waits for it: the server
 * hangs for good. On PostgreSQL it runs on another connection, outside the locks the
 * transaction holds, which is a correctness bug of its own. The guard makes either mistake
 * throw at once, where it is made.
 */
export class OuterHandleInTransactionError extends Error {
  constructor(member: string) {
    super(
      `database handle used for "${member}" inside a transaction of the same handle: ` +
        'pass the transaction handle down instead',
    );
    this.name = 'OuterHandleInTransactionError';
  }
}

/** Members of a drizzle database that start a query or a transaction. */
const QUERY_MEMBERS = new Set([
  'select',
  'selectDistinct',
  'selectDistinctOn',
  'insert',
  'update',
  'delete',
  'execute',
  'transaction',
  'query',
  'with',
  '$with',
  '$count',
  'refreshMaterializedView',
  'rawTransaction',
  'rawQuery',
]);

interface Scope {
  open: boolean;
}

/**
 * Wraps `target` (a drizzle database, or an object with `rawTransaction`) so that its query
 * members throw while the calling async context is inside one of its transactions. The scope
 * closes when the transaction's callback settles, so work merely started inside it and run
 * later (a timer, a cached promise) is not refused then.
 *
 * AsyncLocalStorage costs a promise hook on every promise under Node 20, so the guard is
 * installed where a mistake hangs (PGlite) and under test, not on PostgreSQL's hot path.
 */
export function guardTransactions<T extends object>(
  target: T,
  storage = new AsyncLocalStorage<Scope>(),
): T {
  const inScope = (fn: () => Promise<unknown>) => {
    const scope: Scope = { open: true };
    return storage.run(scope, async () => {
      try {
        return await fn();
      } finally {
        scope.open = false;
      }
    });
  };
  return new Proxy(target, {
    get(object, member, receiver) {
      const value = Reflect.get(object, member, receiver);
      if (typeof member !== 'string' || !QUERY_MEMBERS.has(member)) return value;
      if (storage.getStore()?.open) throw new OuterHandleInTransactionError(member);
      // A plain function that callers keep (a proof service holds rawQuery): checked when called.
      if (member === 'rawQuery')
        return (...args: unknown[]) => {
          if (storage.getStore()?.open) throw new OuterHandleInTransactionError(member);
          return (value as (...a: unknown[]) => unknown).apply(object, args);
        };
      if (member !== 'transaction' && member !== 'rawTransaction') return value;
      return (fn: (handle: unknown) => Promise<unknown>, ...rest: unknown[]) =>
        (value as (...args: unknown[]) => Promise<unknown>).call(
          object,
          (handle: unknown) => inScope(() => fn(handle)),
          ...rest,
        );
    },
  });
}

/** Whether to guard PostgreSQL handles too: under test, or when asked for explicitly. */
export function strictTransactions(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.VITEST) || env.QUITTANCE_STRICT_TRANSACTIONS === '1';
}
