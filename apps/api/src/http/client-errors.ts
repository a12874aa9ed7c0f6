import {
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
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
 * connection is closed. So is an `Expect` the server does not honour (417).
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // Reset by the client, or mid-response (a timeout): nothing can be answered any more.
    const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
      socket.destroy();
      return;
    }
    const problem =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? new ApiError('headers_too_large')
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new ApiError('request_timeout')
          : new ApiError('malformed_http', `the request is not valid HTTP/1.1 (${error.code})`);
    const { status, headers, body } = problemParts(problem);
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head.join('')}\r\n${body}`);
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
  const listener = getRequestListener(fetch, {
    hostname: options.hostname,
    errorHandler: (error) => problemResponse(toRequestProblem(error, options.logger)),
  });
  return (incoming, outgoing) => {
    if (!hasRequiredHost(incoming)) {
      const problem = malformed('an HTTP/1.1 request needs a Host header');
      const { status, headers, body } = problemParts(problem);
      outgoing.writeHead(status, headers).end(body);
      return;
    }
    void listener(incoming, outgoing);
  };
}

/** RFC 9112 §3.2, as Node's own `requireHostHeader` checks it: HTTP/1.1 needs a Host. */
function hasRequiredHost(incoming: IncomingMessage): boolean {
  return incoming.httpVersion !== '1.1' || Boolean(incoming.headers.host);
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
      connection: 'close',
    },
    body,
  };
}

function problemResponse(problem: ApiError): Response {
  const { status, headers, body } = problemParts(problem);
  return new Response(body, { status, headers });
}
