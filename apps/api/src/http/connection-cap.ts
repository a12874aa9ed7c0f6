import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Open connections past which a new client takes a connection's place, or is refused. */
  max: number;
  /** An answer of which the client reads nothing for this long closes its connection. */
  writeTimeoutMs: number;
  /** How long an answer must have been stuck before a new client may take its place. */
  stuckAfterMs: number;
  /**
   * Answers a client refused at the cap and closes its connection (client-errors.ts
   * `refuseConnection`: a 503, then a short linger).
   */
  refuse: (socket: Socket) => void;
}

/**
 * At most `max` open connections, and no answer written forever to a client that reads none
 * of it. A connection past the cap closes, of the connections that give way, the one whose
 * latest request, or opening, is oldest; it is itself refused only when none gives way:
 * answered 503 with Retry-After, where it used to be reset, which left a client unsure
 * whether its request had run. A connection gives way when nothing of its work can be lost:
 * no request running (idle between keep-alive requests, or that has sent nothing, or part of
 * a request's head), or a request whose body the app waits for (nothing has run on it), or
 * an answer stuck for `stuckAfterMs` because the client reads none of it. Before, only idle
 * keep-alive connections gave way, and outside reviews locked every client out with
 * connections that sent nothing, or a head without its body, or asked for large answers they
 * never read, reopened as they closed. Node's own cap sits a little higher, so that a client arriving at the cap is
 * accepted long enough to make that choice (Node would reset it unseen). Per request, only a
 * stamp is written; progress is looked at once a second, and the choice made at the cap.
 */
export function capConnections(server: Server, limits: ConnectionLimits): void {
  const { max, writeTimeoutMs, stuckAfterMs, refuse } = limits;
  const open = new Set<Stamped>();
  let tick = 0;
  const headroom = Math.max(8, Math.ceil(max / 16));
  server.maxConnections = max + headroom;
  // Refused clients being answered: outside the cap, in Node's headroom, of which they may
  // take half (the oldest is dropped past it), so that clients can still arrive to take the
  // place of connections that give way.
  const refused = new Set<Socket>();
  const refuseOne = (socket: Stamped) => {
    open.delete(socket);
    refused.add(socket);
    socket.once('close', () => refused.delete(socket));
    if (refused.size > headroom / 2) refused.values().next().value?.destroy();
    refuse(socket);
  };
  server.on('request', (request: IncomingMessage) => {
    (request.socket as Stamped)[LAST_SEEN] = ++tick;
  });
  server.on('connection', (socket: Stamped) => {
    const now = Date.now();
    socket[LAST_SEEN] = ++tick;
    socket[STILL_SINCE] = now;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    if (open.size <= max) return;
    let oldest: Stamped | undefined;
    for (const other of open) {
      if (other === socket || other.destroyed || !givesWay(other, now, stuckAfterMs)) continue;
      if (!oldest || (other[LAST_SEEN] ?? 0) < (oldest[LAST_SEEN] ?? 0)) oldest = other;
    }
    if (oldest) oldest.destroy();
    else refuseOne(socket);
  });
  const watch = setInterval(() => {
    const now = Date.now();
    for (const socket of open) {
      if (noteProgress(socket, now)) continue;
      if (socket.writableLength > 0 && now - (socket[STILL_SINCE] ?? now) >= writeTimeoutMs)
        socket.destroy();
    }
  }, 1_000);
  watch.unref();
  server.once('close', () => clearInterval(watch));
}

/** Whether a connection can close for a new client with nothing of its work lost. */
function givesWay(socket: Stamped, now: number, stuckAfterMs: number): boolean {
  // Node's response in progress on the connection (null between requests).
  const response = socket._httpMessage;
  if (!response) return true;
  // A request whose body the app is reading, not all come, with no answer begun: nothing has
  // run yet. One the app does not read (a key rotation with a body it ignores) may have.
  const request = response.req;
  if (!request.complete && request.readableFlowing !== null && !response.headersSent) return true;
  // Looked at again: an answer that began since the last look has moved bytes.
  noteProgress(socket, now);
  return socket.writableLength > 0 && now - (socket[STILL_SINCE] ?? now) >= stuckAfterMs;
}

/**
 * Notes when the client last moved bytes: sent some, or made room for some of its answer.
 * True when it did since the last look. Bytes read and writes completed only grow; a large
 * answer is one write, handed to libuv whole, and only libuv's queue shows it shrinking
 * (Node's own counts move once it is all out). The kernel lets libuv write again only once
 * about a third of its send buffer (up to 4 MB) has drained, so progress shows in steps of
 * up to 1.4 MB: the timeouts that use this are long enough for a slow reader's steps.
 */
function noteProgress(socket: Stamped, now: number): boolean {
  const done = socket.bytesRead + socket.bytesWritten - socket.writableLength;
  const queued = socket._handle?.writeQueueSize ?? 0;
  const moved = done !== socket[DONE] || queued < (socket[QUEUED] ?? 0);
  socket[DONE] = done;
  socket[QUEUED] = queued;
  if (moved) socket[STILL_SINCE] = now;
  return moved;
}

/** When a connection opened or its latest request arrived (a count). */
const LAST_SEEN = Symbol('last seen');
/**
 * At the last look: bytes read plus writes completed, and libuv's write queue; and since
 * when the client has moved none.
 */
const DONE = Symbol('done');
const QUEUED = Symbol('queued');
const STILL_SINCE = Symbol('still since');
type Stamped = Socket & {
  [LAST_SEEN]?: number;
  [DONE]?: number;
  [QUEUED]?: number;
  [STILL_SINCE]?: number;
  _httpMessage?: ServerResponse | null;
  _handle?: { writeQueueSize?: number } | null;
};
