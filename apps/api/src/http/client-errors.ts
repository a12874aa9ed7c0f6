import { type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, problemBody } from './problem';

/**
 * Requests Node's HTTP parser refuses before the app sees them (a bad request line or header,
 * Content-Length with Transfer-Encoding, headers over 16 KB, a request not received within
 * the request timeout) are answered as problem+json too, where Node's default answer is a
 * bare status line. Written to the socket, as there may be no response object yet, and the
 * connection is closed.
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
    const body = JSON.stringify(problemBody(problem, undefined));
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
        'content-type: application/problem+json\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `connection: close\r\n\r\n${body}`,
    );
  });
}
