import { readFileSync } from 'node:fs';
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
/** The log says so from this share of a limit on, before the limit is reached. */
const WARN_SHARE = 0.8;
const CHECK_MS = 30_000;
/** Open files the manager needs besides its agents' (database connections, the DNS sockets, API clients, its files). */
const OTHER_FILES = 256;

export type FleetSize = 'ok' | 'near' | 'over';

/** A most-nodes figure the log warns about, and what it says near it and past it. */
export interface FleetLimit {
  nodes: number;
  near(count: number): string;
  over(count: number): string;
}

export const embeddedDatabaseLimit = (limit = EMBEDDED_NODE_LIMIT): FleetLimit => ({
  nodes: limit,
  near: (n) => `${n} nodes: nearing the ${limit} the embedded database keeps up with; plan the move to PostgreSQL (DATABASE_URL)`,
  over: (n) => `${n} nodes: past the ${limit} the embedded database keeps up with; health checks and the API will fall behind. Move to PostgreSQL (DATABASE_URL)`,
});

/**
 * Each agent holds two of the manager's open files (its link and the health watch's stream): the nodes the process's
 * open-file limit leaves room for. Null where the limit cannot be read (not Linux) or is unlimited.
 */
export function openFilesLimit(limitsText = readProcLimits()): FleetLimit | null {
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limitsText ?? '')?.[1];
  if (!soft || soft === 'unlimited') return null;
  const files = Number(soft);
  const room = Math.max(0, Math.floor((files - OTHER_FILES) / 2));
  const fix = `raise the manager's open-file limit (LimitNOFILE in its systemd unit; ulimit -n) to at least twice the fleet size and ${OTHER_FILES}`;
  return {
    nodes: room,
    near: (n) => `${n} nodes: nearing the ${room} this process's open-file limit (${files}) leaves room for, two per agent; ${fix}`,
    over: (n) => `${n} nodes: past the ${room} this process's open-file limit (${files}) leaves room for, two per agent; agents will be refused. ${fix}`,
  };
}

function readProcLimits(): string | null {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
}

/**
 * Says in the log when the fleet nears a limit of this manager's — what the embedded database keeps up with, the open
 * files the process may hold — at start-up and every half minute; once per level reached, again when it falls back
 * and rises.
 */
export class FleetSizeWatch {
  private readonly said: FleetSize[];
  private stopTimer = () => {};

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly limits: FleetLimit[],
  ) {
    this.said = limits.map(() => 'ok');
  }

  async start(): Promise<void> {
    await this.check().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'fleet size check failed'));
    this.stopTimer = every(CHECK_MS, () => this.check(), this.log, 'fleet size check');
  }

  stop(): void {
    this.stopTimer();
  }

  /** The level of each limit, in the order given. */
  async check(): Promise<FleetSize[]> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(nodes).where(ne(nodes.status, 'delete'));
    const count = Number(row?.n ?? 0);
    return this.limits.map((limit, i) => {
      const level: FleetSize = count >= limit.nodes ? 'over' : count >= limit.nodes * WARN_SHARE ? 'near' : 'ok';
      if (level !== 'ok' && level !== this.said[i]) this.log.warn({ nodes: count, limit: limit.nodes }, level === 'over' ? limit.over(count) : limit.near(count));
      this.said[i] = level;
      return level;
    });
  }
}
