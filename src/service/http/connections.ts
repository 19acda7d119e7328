/**
 * What a connection says about an answer once the service has flushed it to the kernel. The
 * kernel's acknowledgement is not enough: a client's TCP takes megabytes into its receive
 * buffer whether or not the client reads them. What does tell is how the client goes on:
 *
 * - it sends its next request on the connection: an HTTP client reads an answer whole before
 *   it reuses the connection, so it took the answer;
 * - it closes the connection cleanly (FIN): it read everything, since a socket closed with
 *   unread data sends a reset instead (RST, RFC 1122 4.2.2.13);
 * - the connection is reset, or fails: it did not take the whole answer;
 * - it keeps the connection idle: the server closes it after `KEEP_ALIVE_MS`, and the answer
 *   counts as taken (all of it reached the client's TCP, and the client did not reset).
 *
 * A client that asked for `Connection: close` has its connection closed by the server once the
 * answer is flushed: it is taken at its word then.
 */
import { Socket } from 'node:net';

/** How long an idle connection is kept for the client's next request: the longest wait for a verdict. */
export const KEEP_ALIVE_MS = 5000;

interface Watched {
  /** Requests that arrived on the connection so far. */
  requests: number;
  /** An error (a reset) came before the close. */
  reset: boolean;
  closed: boolean;
  waiters: Set<() => void>;
}

const watched = new WeakMap<Socket, Watched>();

function watch(socket: Socket): Watched {
  let state = watched.get(socket);
  if (!state) {
    const created: Watched = { requests: 0, reset: false, closed: socket.destroyed, waiters: new Set() };
    socket.on('error', () => (created.reset = true));
    socket.once('close', hadError => {
      created.reset ||= hadError;
      created.closed = true;
      wake(created);
    });
    watched.set(socket, created);
    state = created;
  }
  return state;
}

function wake(state: Watched): void {
  for (const waiter of [...state.waiters]) waiter();
}

/** The server calls this for each request: a request on a connection ends the wait for the answer before it. */
export function requestArrived(socket: Socket): void {
  const state = watch(socket);
  state.requests++;
  wake(state);
}

/** Where the connection is now, to ask later about the answer that starts here. */
export function markAnswer(socket: Socket): number {
  return watch(socket).requests;
}

/** Resolves whether the client took the answer started at `mark` (see above); call once it is flushed. */
export function answerTaken(socket: Socket, mark: number): Promise<boolean> {
  const state = watch(socket);
  return new Promise(resolve => {
    const decided = (): boolean => {
      if (state.requests > mark) resolve(true);
      else if (state.closed) resolve(!state.reset);
      else return false;
      return true;
    };
    if (decided()) return;
    const waiter = () => {
      if (decided()) state.waiters.delete(waiter);
    };
    state.waiters.add(waiter);
  });
}
