import type { Logger } from './log.ts';

/** Codes of a lost connection: the socket's own, and postgres.js's for a connection it gave up. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

/**
 * A rejection nobody handles ends the process (Node's default), except one that only says a connection was lost.
 * While PostgreSQL restarts, the driver can reject a promise of its own that no caller holds (seen once in the
 * chaos test: a bare `read ECONNRESET` from the socket, the manager gone instead of waiting for its database); the
 * work that needed the connection fails and is retried where it is retried anyway (steps, loops, the orphan scan).
 * Logged with its stack, so that its source can be found and handled where it arises.
 */
export function survivingLostConnections(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    const code = (reason as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && CONNECTION_LOST.has(code)) {
      log.error({ err: reason }, 'a lost connection was left unhandled (a driver-internal promise); carrying on');
      return;
    }
    log.fatal({ err: reason }, 'unhandled rejection');
    process.exit(1);
  });
}
