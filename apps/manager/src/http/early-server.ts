// The manager's HTTP server listens from the first moment of a start and serves once every part of the manager is up.
//
// A manager restarted under thousands of agents took seconds to open its database; until it listened, every agent's
// connect was refused and each backed off further (250 ms · 2^n): on the embedded database the new manager listened
// ~7 s after the kill, by when the agents waited 4–16 s between attempts, and the last connected ~26 s after the kill.
// Listening first, a connect succeeds at once and its request (an agent's upgrade, an API call, /healthz) waits until
// the manager serves it, in the order it came. (Node still accepts one connection per turn of its event loop — libuv
// since 1.45 — so a busy manager takes waiting connections off the kernel's queue at the rate its loop turns.)
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createAdaptorServer } from '@hono/node-server';

/**
 * Connections the kernel queues for the HTTP server before it accepts them (capped by net.core.somaxconn). After a
 * manager restart thousands of agents connect within seconds; with Node's default of 511 the queue overflowed while
 * the manager was busy, the kernel dropped their SYNs, and each agent waited out TCP's retransmission (1 s, 3 s, 7 s…).
 */
const LISTEN_BACKLOG = 4096;

/** Requests served per turn when the server opens with requests waiting. */
const RELEASE_SLICE = 250;

/** The handler @hono/node-server calls for each request. */
type Fetch = Parameters<typeof createAdaptorServer>[0]['fetch'];

export interface Handlers {
  fetch: Fetch;
  /** A WebSocket upgrade request (the agents' link). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface EarlyServer {
  server: Server;
  /** The port bound (OCDN_HTTP_PORT=0 picks one). */
  port: number;
  /** Serves from now on; what waited is served first, in the order it arrived. Returns how many waited. */
  open(handlers: Handlers): number;
  /** Stops listening and ends every connection (held ones included, answered 503). Idempotent. */
  close(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string } | undefined;
}

export async function listenEarly(opts: ListenOptions): Promise<EarlyServer> {
  let handlers: Handlers | null = null;
  let closed = false;
  /** Requests and upgrades that came before open(), each waiting for the handlers (or null: the start failed). */
  const waiting: ((h: Handlers | null) => void)[] = [];
  const fetch: Fetch = (request, env) =>
    handlers
      ? handlers.fetch(request, env)
      : new Promise<unknown>((resolve) => {
          waiting.push((h) => resolve(h ? h.fetch(request, env) : new Response('the manager is stopping\n', { status: 503 })));
        });
  const tls = opts.tls ? { createServer: createHttpsServer, serverOptions: { cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) } } : {};
  const server = createAdaptorServer({ fetch, ...tls }) as Server;
  // Longer than the usual load balancer idle timeout, so that neither side closes a connection the other is about to
  // use.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const held = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (handlers) return handlers.upgrade(req, socket, head);
    // The HTTP server let go of the socket when it emitted the upgrade: a reset while it waits must not throw.
    const ignore = () => {};
    socket.on('error', ignore);
    held.add(socket);
    waiting.push((h) => {
      held.delete(socket);
      socket.off('error', ignore);
      if (h && !socket.destroyed) h.upgrade(req, socket, head);
      else socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const release = (h: Handlers | null) => {
    if (!h) for (const w of waiting.splice(0)) w(null);
    else {
      // A slice per turn of the event loop: thousands of agents' upgrades at once would hold the loop (the health
      // monitor's timers among what waits) for the whole of them.
      for (const w of waiting.splice(0, RELEASE_SLICE)) w(h);
      if (waiting.length > 0) setImmediate(() => release(handlers));
    }
  };
  return {
    server,
    port: (server.address() as AddressInfo).port,
    open(h) {
      handlers = h;
      const waited = waiting.length;
      release(h);
      return waited;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      release(null);
      for (const s of held) s.destroy();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
