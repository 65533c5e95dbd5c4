import { ne, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { nodes } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { every } from '../every.ts';

/**
 * How many nodes one manager on the embedded database (PGlite) keeps up with, as bench/hub measured it on a 2-core
 * machine: the embedded database runs on the manager's own thread, and past this many agents beating and
 * connecting its health ticks are skipped as overloaded and API calls time out (5,000 failed). README states it.
 */
export const EMBEDDED_NODE_LIMIT = 2_000;
/** The log says so from this share of the limit on, before the limit is reached. */
const WARN_SHARE = 0.8;
const CHECK_MS = 30_000;

export type FleetSize = 'ok' | 'near' | 'over';

/**
 * Says in the log, on the embedded database, when the fleet nears what the embedded database keeps up with (at
 * start-up and every half minute; once per level reached, again when it falls back and rises).
 */
export class FleetSizeWatch {
  private said: FleetSize = 'ok';
  private stopTimer = () => {};

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly limit = EMBEDDED_NODE_LIMIT,
  ) {}

  async start(): Promise<void> {
    await this.check().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'fleet size check failed'));
    this.stopTimer = every(CHECK_MS, () => this.check(), this.log, 'fleet size check');
  }

  stop(): void {
    this.stopTimer();
  }

  async check(): Promise<FleetSize> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(nodes).where(ne(nodes.status, 'delete'));
    const count = Number(row?.n ?? 0);
    const level: FleetSize = count >= this.limit ? 'over' : count >= this.limit * WARN_SHARE ? 'near' : 'ok';
    if (level !== 'ok' && level !== this.said) {
      this.log.warn(
        { nodes: count, limit: this.limit },
        level === 'over'
          ? `${count} nodes: past the ${this.limit} the embedded database keeps up with; health checks and the API will fall behind. Move to PostgreSQL (DATABASE_URL)`
          : `${count} nodes: nearing the ${this.limit} the embedded database keeps up with; plan the move to PostgreSQL (DATABASE_URL)`,
      );
    }
    this.said = level;
    return level;
  }
}
