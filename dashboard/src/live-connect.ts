import { checkSession } from './api';
import { LiveSocket, liveUrl, type ConnectionState, type SocketLike } from './live-socket';
import type { LiveServerMessage } from './types';

/**
 * Opens the live socket of a page, the browser way: `new WebSocket` on this
 * host's `/v1/live`, authenticated by the `reel_session` cookie that
 * signing in set (when a connection fails to open, `GET /api/v1/me` says
 * whether the sign-in still holds). Each live page has its own socket and closes it when it
 * goes: the protocol has no way to drop a presence subscription, and a new
 * socket gets a fresh snapshot.
 *
 * The caller registers the cleanup (so that an `unwatch` goes out before
 * the socket closes).
 */
export function openLiveSocket(handlers: {
  onMessage(message: LiveServerMessage): void;
  onState(state: ConnectionState): void;
  onOpen?(reconnected: boolean): void;
}): { socket: LiveSocket; close(): void } {
  const socket = new LiveSocket({
    url: liveUrl(location),
    connect: browserSocket,
    authorize: (refresh) => checkSession(refresh),
    ...handlers,
  });
  const online = () => socket.retryNow();
  window.addEventListener('online', online);
  socket.start();
  return {
    socket,
    close: () => {
      window.removeEventListener('online', online);
      socket.close();
    },
  };
}

/** A browser WebSocket behind the client's `SocketLike`. */
function browserSocket(url: string): SocketLike {
  const ws = new WebSocket(url);
  const socket: SocketLike = {
    get readyState() {
      return ws.readyState;
    },
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    onopen: null,
    onmessage: null,
    onerror: null,
    onclose: null,
  };
  ws.onopen = (event) => socket.onopen?.(event);
  ws.onmessage = (event) => socket.onmessage?.(event);
  ws.onerror = (event) => socket.onerror?.(event);
  ws.onclose = (event) => socket.onclose?.(event);
  return socket;
}
