import type { Logger } from './log.ts';
import { isDatabaseUnavailable } from './db/errors.ts';

/**
 * A rejection nobody handles ends the process (Node's default), except one that only says a connection was lost.
 * While PostgreSQL restarts, the driver can reject a promise of its own that no caller holds (seen once in the
 * chaos test: a bare `read ECONNRESET` from the socket, the manager gone instead of waiting for its database); the
 * work that needed the connection fails and is retried where it is retried anyway (steps, loops, the orphan scan).
 * pg-boss 10 does it too: its worker marks a job done or failed without awaiting it, and PostgreSQL shutting down
 * answers that with `57P01` (terminating connection due to administrator command) — seen in a restart stress run, the
 * manager gone. What counts as lost is what the API answers 503 for (db/errors.ts). Logged with its stack, so that
 * its source can be found and handled where it arises.
 */
export function survivingLostConnections(log: Logger): void {
  process.on('unhandledRejection', (reason) => {
    if (isDatabaseUnavailable(reason)) {
      log.error({ err: reason }, 'a lost connection was left unhandled (a driver-internal promise); carrying on');
      return;
    }
    log.fatal({ err: reason }, 'unhandled rejection');
    process.exit(1);
  });
}
