import { DrizzleQueryError } from 'drizzle-orm/errors';

// What the logs of requests and jobs may say about an error (never values or parameters).

/** Schema names a database error may carry: they say where it failed, not with what. */
const DB_FIELDS = [
  ['table', ['table', 'table_name']],
  ['column', ['column', 'column_name']],
  ['constraint', ['constraint', 'constraint_name']],
  ['routine', ['routine']],
] as const;

/**
 * What a log line may say about an error: name, code, a message with quoted values
 * redacted, schema names, stack frames, and the same of its cause. Never query parameters,
 * `detail` (PostgreSQL's "Failing row contains (...)") or the request: drizzle's
 * `DrizzleQueryError` puts the SQL and every parameter (receipt fields, bodies) in its
 * message and so in its stack, and PostgreSQL quotes the offending value in messages such
 * as `invalid input syntax for type timestamp: "..."`.
 */
export function describeError(error: unknown, depth = 0): Record<string, unknown> {
  if (typeof error !== 'object' || error === null) return { type: typeof error };
  const e = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    stack?: unknown;
    cause?: unknown;
    query?: unknown;
  } & Record<string, unknown>;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  // DrizzleQueryError (its name is plain "Error"): `Failed query: <sql>\nparams: <values>`.
  if (
    error instanceof DrizzleQueryError ||
    (typeof e.message === 'string' && e.message.startsWith('Failed query: '))
  ) {
    // Flat, the driver's error folded in: pino's err serializer would merge a nested cause.
    const cause = e.cause !== undefined && depth < 3 ? describeError(e.cause, depth + 1) : {};
    const { stack: causeStack, cause: _, ...fields } = cause;
    const message = `failed query (${statementOf(e.query)})${fields.message ? `: ${fields.message}` : ''}`;
    return {
      ...fields,
      name: 'DrizzleQueryError',
      message,
      stack: `DrizzleQueryError: ${message}${framesOf(e.stack)}${
        typeof causeStack === 'string' ? `\ncaused by: ${causeStack}` : ''
      }`,
    };
  }
  const message = redact(typeof e.message === 'string' ? e.message : '');
  const described: Record<string, unknown> = {
    name,
    message,
    stack: `${name}: ${message}${framesOf(e.stack)}`,
  };
  if (typeof e.code === 'string' || typeof e.code === 'number') described.code = e.code;
  for (const [field, keys] of DB_FIELDS) {
    for (const key of keys) {
      if (typeof e[key] === 'string') described[field] = e[key];
    }
  }
  if (e.cause !== undefined && depth < 3) described.cause = describeError(e.cause, depth + 1);
  return described;
}

/** Quoted text in a message is where values go (`"..."`, `'...'` after a colon or `=`). */
function redact(message: string): string {
  const firstLine = message.split('\n', 1)[0] ?? '';
  return firstLine
    .slice(0, 300)
    .replace(/"(?:[^"\\]|\\.)*"/g, '"[redacted]"')
    .replace(/([:=(]\s*)'(?:[^'\\]|\\.)*'/g, "$1'[redacted]'");
}

/** The stack's frames only: its first lines repeat the message. */
function framesOf(stack: unknown): string {
  if (typeof stack !== 'string') return '';
  return stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .map((line) => `\n${line}`)
    .join('');
}

/** `insert into "receipts"`: the kind of statement and its table, not the SQL. */
function statementOf(query: unknown): string {
  if (typeof query !== 'string') return 'unknown statement';
  const match = /^\s*(select\b.*?\bfrom|insert into|update|delete from|with)\s+("?[\w.]+"?)/is.exec(
    query,
  );
  if (!match) return (/^\s*(\w+)/.exec(query)?.[1] ?? 'statement').toLowerCase();
  const verb = /^select/i.test(match[1] as string)
    ? 'select from'
    : (match[1] as string).toLowerCase();
  return `${verb} ${match[2]}`;
}
