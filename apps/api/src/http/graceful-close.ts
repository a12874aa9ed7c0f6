import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { isQuiet } from './client-errors';

export interface GracefulCloseOptions {
  /** How long after the listener closes a connection with nothing running is kept open. */
  graceMs?: number;
  /** How long connections may still be accepted while each turn of the loop accepts some. */
  acceptForMs?: number;
}
/** How often connections are looked at after that, until all are closed. */
const SWEEP_MS = 250;

/**
 * Closing a server without losing requests clients have already sent. Node's `close()` closes
 * the listener, which resets the connections still in the kernel's accept queue, and drops at
 * once every connection with no request in progress, including those whose request is in the
 * kernel's buffer, not yet read: an outside retest sent complete requests 3 to 7 ms before
 * SIGTERM and up to 13 of 16 were reset unanswered (more on the embedded database, whose
 * queries hold the event loop while requests arrive). Here the listener closes only once a
 * turn of the loop accepted nothing (what waited to be accepted is accepted; for at most
 * `acceptForMs` while clients keep connecting), and a connection is closed
 * once it has been quiet for a whole look (nothing running, waiting, or read since the last
 * look), each look made after the loop has read what had arrived. Its close lingers (see
 * client-errors.ts `closeAfterAnswers`), and a request arriving after it does not run.
 * Returns the close, which resolves once every connection is gone.
 */
export function gracefulClose(
  server: Server,
  { graceMs = 1_000, acceptForMs = 5_000 }: GracefulCloseOptions = {},
): () => Promise<void> {
  const open = new Set<Socket>();
  let accepted = 0;
  server.on('connection', (socket: Socket) => {
    accepted++;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return () =>
    new Promise<void>((resolve) => {
      whenAcceptQueueEmpty(
        () => accepted,
        acceptForMs,
        () => {
          const closedAt = Date.now();
          // Node's close() also drops idle connections at once (closeIdleConnections): not here.
          const closeIdle = server.closeIdleConnections;
          server.closeIdleConnections = () => {};
          try {
            server.close(() => resolve());
          } finally {
            server.closeIdleConnections = closeIdle;
          }
          const read = new WeakMap<Socket, number>();
          for (const socket of open) read.set(socket, socket.bytesRead);
          const look = () =>
            afterReads(() => {
              for (const socket of open) {
                const bytes = socket.bytesRead;
                const idle = isQuiet(socket);
                const quiet = idle && bytes === read.get(socket);
                read.set(socket, bytes);
                // Still receiving bytes, with no request in them, for longer than a request
                // head may take: Node's close() stopped the checks that would answer it 408,
                // and a client trickling bytes held the shutdown until its deadline (a review).
                const stalled = idle && Date.now() - closedAt > server.headersTimeout;
                // Ends it and reads on for a moment (closeAfterAnswers), so no reset.
                if (quiet || stalled) socket.destroySoon();
              }
              if (open.size > 0) setTimeout(look, SWEEP_MS).unref();
            });
          setTimeout(look, graceMs).unref();
        },
      );
    });
}

/**
 * Calls `fn` once a turn of the event loop accepted no connection (libuv accepts a few a
 * turn: 500 waiting took more than 250 ms, a review), or after `maxMs` of turns that all did:
 * a client that had connected before the close is served, not reset with the listener.
 */
function whenAcceptQueueEmpty(accepted: () => number, maxMs: number, fn: () => void): void {
  const until = Date.now() + maxMs;
  let before = accepted();
  const turn = () =>
    afterReads(() => {
      const now = accepted();
      if (now === before || Date.now() >= until) fn();
      else {
        before = now;
        turn();
      }
    });
  turn();
}

/** Calls `fn` after a turn of the event loop in which it read what sockets had received. */
function afterReads(fn: () => void): void {
  setTimeout(() => setImmediate(fn), 0);
}
