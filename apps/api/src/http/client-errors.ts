import {
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { Logger } from 'pino';
import { describeError } from '../describe-error';
import { ApiError, problemBody } from './problem';

/**
 * Requests Node's HTTP parser refuses before the app sees them (a bad request line or header,
 * Content-Length with Transfer-Encoding, headers over 16 KB, a request not received within
 * the request timeout) are answered as problem+json too, where Node's default answer is a
 * bare status line. Written to the socket, as there may be no response object yet, and the
 * connection is closed. So is an `Expect` the server does not honour (417), and `CONNECT`
 * (no proxy here), which Node would close without a word.
 *
 * Answers go out in the order of the requests (RFC 9112 §9.3.2): bytes the parser refuses
 * after a complete request, on the same connection, are answered only once that request's
 * answer (and any before it) has been written. Node answered them at once, so a client read
 * "malformed" as the answer to a receipt that had committed (an outside check found it).
 * After a refusal, which closes the connection, no later request on it is served (§9.6).
 */
export function answerClientErrors(server: Server): void {
  server.on('connection', (socket: Socket) => {
    socket.destroySoon = closeAfterAnswers;
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // Reset by the client: nothing can be answered any more.
    if (error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    // Bytes after a request that closes the connection (Connection: close): its answer, and
    // those before it, are still owed, and the close lingers (closeAfterAnswers). Answering
    // here destroyed the connection once Node had ended it, and the reset lost all ten
    // answers before it (a review).
    if (error.code === 'HPE_CLOSED_CONNECTION') return;
    // Being answered already: the parser reports its error again with each later chunk,
    // which the linger reads and discards.
    const tracked = socket as Tracked;
    if (tracked[REFUSED_AT] !== undefined || tracked[ANSWERING]) return;
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const problem =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? new ApiError('headers_too_large')
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new ApiError('request_timeout')
          : new ApiError('malformed_http', `the request is not valid HTTP/1.1 (${error.code})`);
    answerAfterPending(socket, problem);
  });
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    answerAfterPending(
      socket,
      new ApiError('malformed_http', 'CONNECT is not served: this is not a proxy'),
    );
  });
  // An Expect other than 100-continue (RFC 9110 §10.1.1): Node answers a bare 417 itself
  // unless the server listens for this event.
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const { status, headers, body } = problemParts(
      new ApiError(
        'expectation_failed',
        `Expect: ${String(request.headers.expect).slice(0, 100)} is not honoured; send the request without it, or with Expect: 100-continue`,
      ),
    );
    response.writeHead(status, headers).end(body);
  });
}

/**
 * What Node calls once the answer that closes a connection is out (one with `Connection:
 * close`: a refusal, an HTTP/1.0 request): its own destroySoon dropped the connection at once,
 * and a client still sending got a reset, which destroyed the answers waiting in its buffer,
 * to receipts that were stored (an outside retest: 3 of 10 arrived). The connection lingers
 * as a refused one does, and no request after that answer runs (RFC 9112 §9.6).
 */
function closeAfterAnswers(this: Socket): void {
  refuse(this, 0);
  writeProblem(this, undefined);
}

/**
 * The Node listener of the app. Requests Node's parser accepts but that name no URL (a
 * backslash in the path, a Host such as `a b` or `x:99999`, `OPTIONS *`, an `ftp://` target)
 * make the adapter throw a RequestError, which it answers with a bare 400: they get
 * problem+json `malformed_http` here. So does an HTTP/1.1 request without Host, which Node
 * would refuse itself, bare too, unless the server is made with `requireHostHeader: false`.
 * `hostname` stands in for the Host of an HTTP/1.0 request, which need not send one.
 */
export function appRequestListener(
  fetch: Parameters<typeof getRequestListener>[0],
  options: { hostname: string; logger: Logger },
): RequestListener {
  // The request being dispatched: the adapter calls errorHandler before its first await.
  let dispatching: { socket: Tracked; arrival: number } | undefined;
  const listener = getRequestListener(fetch, {
    hostname: options.hostname,
    errorHandler: (error) => {
      if (dispatching) refuse(dispatching.socket, dispatching.arrival);
      return problemResponse(toRequestProblem(error, options.logger));
    },
  });
  return (incoming, outgoing) => {
    const socket = incoming.socket as Tracked;
    // A request pipelined behind a refused one: the connection closes after the refusal's
    // answer, and nothing after it runs (it could be an issue that would commit unanswered).
    // Node parses on while the connection lingers, and keeps each request it parses until the
    // connection closes: a client flooding requests meanwhile had 240,000 parsed and stalled
    // the loop for 37 s as Node let go of them (a review). Past a few, it is dropped.
    if (socket[REFUSED_AT] !== undefined) {
      socket[IGNORED] = (socket[IGNORED] ?? 0) + 1;
      if (socket[IGNORED] > MAX_IGNORED) socket.destroy();
      return;
    }
    socket[PREVIOUS_RESPONSE] = socket[LATEST_RESPONSE];
    socket[LATEST_RESPONSE] = outgoing;
    const arrival = (socket[ARRIVALS] ?? 0) + 1;
    socket[ARRIVALS] = arrival;
    const problem = framingProblem(incoming);
    if (problem) {
      refuse(socket, arrival);
      const { status, headers, body } = problemParts(problem);
      outgoing.writeHead(status, headers).end(body);
      return;
    }
    inTurn(socket, outgoing, () => {
      // Behind a request refused meanwhile: it does not run. One that came before the refused
      // one still runs (its answer is owed before the refusal's; skipping it hung the
      // connection, found by a review).
      if ((socket[REFUSED_AT] ?? Number.POSITIVE_INFINITY) < arrival) return;
      dispatching = { socket, arrival };
      try {
        void listener(incoming, outgoing);
      } finally {
        dispatching = undefined;
      }
    });
  };
}

/**
 * Requests with `Expect: 100-continue` go to the server's 'request' listeners as others do,
 * and `100 Continue` goes out only once the app starts reading the body. Node sent it at
 * once, so a client announcing 5 MB heard "continue", then 413 (an outside retest), and one
 * without credentials sent its body to be refused with 401. An answer given before the body
 * is read is final, and Node then closes the connection (the client may not send the body).
 */
export function continueWhenRead(server: Server): void {
  server.on('checkContinue', (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const read = incoming.read;
    incoming.read = function (this: IncomingMessage, size?: number) {
      incoming.read = read;
      if (!outgoing.headersSent) outgoing.writeContinue();
      return read.call(this, size);
    };
    server.emit('request', incoming, outgoing);
  });
}

/**
 * Nothing is running, waiting or being answered on the connection, and it is not closing:
 * it can be closed without losing a request Node has parsed (graceful-close.ts).
 */
export function isQuiet(socket: Socket): boolean {
  const tracked = socket as Tracked & { _httpMessage?: unknown };
  return (
    !tracked[SERVING] &&
    !tracked[WAITING]?.length &&
    tracked[REFUSED_AT] === undefined &&
    !tracked[ANSWERING] &&
    !tracked._httpMessage &&
    !socket.writableEnded &&
    !socket.destroyed
  );
}

/** Marks the connection refused at its `arrival`th request: the answer closes it. */
function refuse(socket: Tracked, arrival: number): void {
  socket[REFUSED_AT] = Math.min(socket[REFUSED_AT] ?? arrival, arrival);
}

/**
 * Requests parsed on a refused connection before it is dropped without its linger. Node
 * parses a whole chunk it has read (up to 64 KB, a few thousand small requests) whatever is
 * done meanwhile, so a lower number saves nothing; this one lets a client that pipelined a
 * few hundred past {@link MAX_WAITING} still read the answer owed and the 503.
 */
const MAX_IGNORED = 256;

/** Pipelined requests a connection may have waiting for their turn; past it, it is closed. */
const MAX_WAITING = 64;

/**
 * Runs a connection's requests one at a time, each once the answer before it is out. Node
 * runs every pipelined request as soon as it parses it, and parses a whole chunk at once: one
 * connection sending 3,000 small requests, none of whose answers it read, held the event loop
 * for 12 to 44 s and 250 to 690 MB (an outside review). Its answers leave in order anyway
 * (RFC 9112 §9.3.2), so running them in turn costs a pipelining client nothing it could see
 * but the overlap. Reading goes on meanwhile (Node stops it for a client that reads no
 * answers, and for a body nobody reads yet): pausing the connection instead ran a waiting
 * request's body into the request timeout (a review). Past MAX_WAITING waiting requests the
 * connection is closed after the answer being written: the waiting ones never ran, so none
 * committed unanswered.
 */
function inTurn(socket: Tracked, outgoing: ServerResponse, run: () => void): void {
  if (!socket[SERVING]) {
    serveNow(socket, outgoing, run);
    return;
  }
  const waiting = socket[WAITING] ?? [];
  socket[WAITING] = waiting;
  if (waiting.length >= MAX_WAITING) {
    // Nothing after it runs; the 503 follows the answer being written (afterAnswer).
    refuse(socket, 0);
    waiting.length = 0;
    socket[OVERFLOWED] = true;
    return;
  }
  waiting.push(() => serveNow(socket, outgoing, run));
}

function serveNow(socket: Tracked, outgoing: ServerResponse, run: () => void): void {
  socket[SERVING] = outgoing;
  // 'close' comes once the answer is out, or the connection is gone.
  outgoing.once('close', () => {
    if (!socket[WAITING]?.length && !socket[OVERFLOWED]) socket[SERVING] = undefined;
    // The next in turn waits for the loop's next round (SERVING keeps later ones in line).
    // Run at once, a connection's pipelined answers, each taken whole by the kernel, followed
    // one another without the loop ever turning: an outside retest's six connections
    // pipelining /docs held every other client for 7 s.
    else setImmediate(afterAnswer, socket, outgoing);
  });
  run();
}

function afterAnswer(socket: Tracked, served: ServerResponse): void {
  if (socket[OVERFLOWED]) {
    if (!served.writableFinished || !socket.writable) socket.destroy();
    else
      writeProblem(
        socket,
        new ApiError(
          'service_unavailable',
          `more than ${MAX_WAITING} pipelined requests waited on one connection; those after the last answer did not run: send them again, fewer at a time`,
          undefined,
          { retryAfterSeconds: 1 },
        ),
      );
    return;
  }
  socket[SERVING] = undefined;
  const turn = socket[WAITING]?.shift();
  if (turn && !socket.destroyed) turn();
}

/**
 * What Node's parser lets through but RFC 9112 refuses: a version other than HTTP/1.x (Node
 * parses `HTTP/2.0` and a request line without one, HTTP/0.9, and answered them as HTTP/1.1:
 * 505, RFC 9110 §15.6.6); an HTTP/1.1 request without Host, or with more than one (§3.2,
 * "MUST respond with a 400"; Node keeps the first); Transfer-Encoding on an HTTP/1.0 request
 * (§6.1: faulty framing, whose body Node decoded as chunked and ran); and a transfer coding
 * other than chunked (§6.1: 501; Node reads `gzip, chunked` as chunked alone, so a body the
 * client said was compressed would have been signed as sent).
 */
function framingProblem(incoming: IncomingMessage): ApiError | undefined {
  if (incoming.httpVersionMajor !== 1)
    return new ApiError(
      'http_version_not_supported',
      `HTTP/${incoming.httpVersion} is not spoken here; send HTTP/1.1`,
    );
  if (incoming.httpVersion === '1.0' && incoming.headers['transfer-encoding'] !== undefined)
    return malformed('an HTTP/1.0 request cannot use Transfer-Encoding (RFC 9112 §6.1)');
  if (incoming.httpVersion === '1.1' && !incoming.headers.host)
    return malformed('an HTTP/1.1 request needs a Host header');
  const raw = incoming.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) return malformed('more than one Host header');
  const coding = incoming.headers['transfer-encoding'];
  if (coding === undefined) return undefined;
  // A list (RFC 9110 §5.6.1): empty elements are allowed and mean nothing.
  const codings = coding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter(Boolean);
  if (codings.length !== 1 || codings[0] !== 'chunked') {
    return new ApiError(
      'unsupported_transfer_encoding',
      `Transfer-Encoding: ${coding.slice(0, 100)} is not understood; send the body with Content-Length or chunked alone`,
    );
  }
  return undefined;
}

/** A connection with what the listener notes on it. */
type Tracked = Duplex & {
  [SERVING]?: ServerResponse | undefined;
  [ARRIVALS]?: number;
  [REFUSED_AT]?: number;
  [IGNORED]?: number;
  [WAITING]?: (() => void)[];
  [OVERFLOWED]?: true;
  [LATEST_RESPONSE]?: ServerResponse;
  [PREVIOUS_RESPONSE]?: ServerResponse;
  [ANSWERING]?: true;
};
/** The answer of the request running on a connection, and the requests waiting for it. */
const SERVING = Symbol('serving');
const WAITING = Symbol('waiting');
/** Set once more requests waited than MAX_WAITING: the connection closes after its answer. */
const OVERFLOWED = Symbol('overflowed');
/**
 * Requests that arrived on a connection, and the number of the one refused, once one is: its
 * answer closes the connection, and no request after it runs.
 */
const ARRIVALS = Symbol('arrivals');
const REFUSED_AT = Symbol('refused at');
/** Requests parsed on a connection after it was refused (none of them runs). */
const IGNORED = Symbol('ignored');
/** The response objects of the newest request on a connection and of the one before it. */
const LATEST_RESPONSE = Symbol('latest response');
const PREVIOUS_RESPONSE = Symbol('previous response');
/** Set once a connection's refused bytes are being answered. */
const ANSWERING = Symbol('answering a refused request');
/** How long a closed connection is read from (and discarded) before it is dropped. */
const LINGER_MS = 2_000;

const owed = (response: ServerResponse | undefined): response is ServerResponse =>
  response !== undefined && !response.writableFinished && !response.destroyed;

/**
 * Writes a problem to the socket and closes it, once the answers still owed on it are out:
 * after the newest request's when that request was complete (the bytes refused came after
 * it), else after the one before it (the refused request is the newest, cut off in its
 * body). A refused request the app has answered already (before reading its body) gets no
 * second answer: the connection closes after the first. A refusal already answered closes
 * the connection itself.
 */
function answerAfterPending(socket: Duplex, problem: ApiError): void {
  const tracked = socket as Tracked;
  if (tracked[REFUSED_AT] !== undefined || tracked[ANSWERING]) return;
  tracked[ANSWERING] = true;
  // Node takes its own listener off a socket it hands to 'connect' or reports to
  // 'clientError': a reset while the answer waits or lingers would crash the process.
  socket.on('error', () => socket.destroy());
  const latest = tracked[LATEST_RESPONSE];
  // The refused bytes are in the body of a request already answered (a 404 or 415 sent
  // before its body was read).
  const answered = latest !== undefined && !latest.req.complete && latest.headersSent;
  const close = answered ? undefined : problem;
  let before: ServerResponse | undefined;
  if (owed(latest)) {
    before = latest.req.complete || answered ? latest : tracked[PREVIOUS_RESPONSE];
  }
  if (!owed(before)) {
    writeProblem(socket, close);
    return;
  }
  // Its 'finish' comes once it is handed to the socket; every answer before it was, too.
  before.once('finish', () => {
    if (socket.writable) writeProblem(socket, close);
    else socket.destroy();
  });
  before.once('close', () => {
    if (!before.writableFinished) socket.destroy();
  });
}

/**
 * The problem (when one is owed), then the connection closed: ended at once, and dropped
 * after a short linger while what the client still sends is read and discarded (closing a
 * socket with unread bytes would send a reset, which can destroy the answer before the
 * client reads it).
 */
function writeProblem(socket: Duplex, problem: ApiError | undefined): void {
  if (problem) {
    const { status, headers, body } = problemParts(problem);
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head.join('')}\r\n${body}`);
  } else socket.end();
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

/**
 * A client refused at the connection cap (connection-cap.ts): 503 problem+json with
 * Retry-After, written before its request is read, then the connection closes as a refused
 * one does. Nothing it sends runs.
 */
export function refuseConnection(socket: Socket): void {
  refuse(socket as Tracked, 0);
  writeProblem(
    socket,
    new ApiError('service_unavailable', 'too many open connections; retry', undefined, {
      retryAfterSeconds: 1,
    }),
  );
}

/** The adapter only hands its own RequestError here; anything else is ours, so a 500. */
function toRequestProblem(error: unknown, logger: Logger): ApiError {
  if (error instanceof RequestError) return malformed(error.message);
  logger.error({ err: describeError(error) }, 'request failed before the app');
  return new ApiError('internal_error');
}

const malformed = (reason: string) =>
  new ApiError('malformed_http', `the request target or Host is not valid (${reason})`);

/** A problem's status, headers and body; the connection closes after it. */
function problemParts(problem: ApiError) {
  const body = JSON.stringify(problemBody(problem, undefined));
  return {
    status: problem.status,
    headers: {
      'content-type': 'application/problem+json',
      'content-length': String(Buffer.byteLength(body)),
      ...(problem.retryAfterSeconds === undefined
        ? {}
        : { 'retry-after': String(problem.retryAfterSeconds) }),
      connection: 'close',
    },
    body,
  };
}

function problemResponse(problem: ApiError): Response {
  const { status, headers, body } = problemParts(problem);
  return new Response(body, { status, headers });
}
