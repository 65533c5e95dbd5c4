import type { Logger } from '../log.ts';
import type { Database, Lock } from './client.ts';

/**
 * One replica runs a periodic loop (the health monitor, the forwarding tick, the VOD loops): whoever holds its
 * advisory lock. A replica that is not the leader tries for the lock every `periodMs`, so when the leader dies (its
 * session ends and PostgreSQL releases the lock at once) another one leads within that period; `onGain` lets the
 * loop run at once rather than at its next turn. The leader checks its lock's connection as often: a replica that
 * lost its database session steps down at once, before another one takes the lock and both would lead.
 */
export class Leader {
  private lock: Lock | null = null;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly database: Database,
    private readonly key: number,
    private readonly name: string,
    private readonly log: Logger,
    private readonly onGain?: () => void,
  ) {}

  /** This replica leads now. */
  get held(): boolean {
    return this.lock !== null;
  }

  start(periodMs = 1000): Promise<void> {
    this.timer = setInterval(() => void this.poll(), periodMs);
    this.timer.unref();
    return this.poll();
  }

  /** One look: take the lock if free, or check that the one held still is. */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        if (this.lock) {
          if (!(await this.lock.alive())) {
            this.lock = null;
            this.log.error({ loop: this.name }, 'lost the database session holding the lead; stepping down');
          }
          return;
        }
        const lock = await this.database.tryLock(this.key).catch(() => null);
        if (!lock) return;
        if (this.stopped) return void (await lock.release().catch(() => {}));
        this.lock = lock;
        this.log.info({ loop: this.name }, 'this replica leads the loop');
        this.onGain?.();
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.polling;
    await this.lock?.release().catch(() => {});
    this.lock = null;
  }
}
