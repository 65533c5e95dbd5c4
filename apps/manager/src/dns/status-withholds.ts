import { inArray } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { nodes } from '../db/schema.ts';
import { EVENTS_CHANNEL } from '../events/live.ts';
import type { Logger } from '../log.ts';
import type { BuiltinDns } from './builtin.ts';

/** Node announcements read together: a fleet's worth arrives at once after a restart. */
const BATCH_MS = 20;
const MAX_IDS = 1_000;
/** A batch whose read failed (the database away) is read again after this long, with what came meanwhile. */
const RETRY_MS = 1_000;

/**
 * Ids announced one by one, read in batches: the first waits `batchMs` for others, a batch holds at most `maxIds`,
 * one read at a time. A read that fails keeps its ids, which are read again `retryMs` later: an announcement is never
 * dropped for a database that was away for a moment.
 */
export class AnnouncedIds {
  private readonly due = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly read: (ids: string[]) => Promise<void>,
    private readonly onError: (err: unknown, ids: number) => void,
    private readonly opts = { batchMs: BATCH_MS, retryMs: RETRY_MS, maxIds: MAX_IDS },
  ) {}

  add(id: string): void {
    if (this.stopped) return;
    this.due.add(id);
    this.schedule(this.opts.batchMs);
  }

  /** Stops reading; resolves when a read under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.reading;
  }

  private schedule(ms: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.reading = this.reading.then(() => this.drain());
    }, ms);
  }

  private async drain(): Promise<void> {
    while (this.due.size > 0 && !this.stopped) {
      const ids = [...this.due].slice(0, this.opts.maxIds);
      for (const id of ids) this.due.delete(id);
      try {
        await this.read(ids);
      } catch (err) {
        this.onError(err, ids.length);
        if (this.stopped) return;
        for (const id of ids) this.due.add(id);
        clearTimeout(this.timer); // a batch timer set meanwhile: the retry reads its ids too
        this.timer = undefined;
        this.schedule(this.opts.retryMs);
        return;
      }
    }
  }
}

/**
 * Follows node statuses for this replica's built-in DNS, on every replica and both databases: a node seen going from
 * `normal` to `fault` has its address withheld from the answers (ZoneAnswers.withhold), one seen going from `fault`
 * to `normal` has it given back. The replica that decides a fault withholds the address at once itself; the others
 * learn it from the node's announcement (drizzle/0007_events.sql: `node:<id>` on `ocdn_events`, at the decision's
 * commit) rather than from FAULT_NODE's record deletions, which during a rollout came 13-23 s later. The release runs
 * on every replica, the deciding one too: a name that kept the address while the node was down (FAULT_NODE fails
 * open) is never published again, so nothing else would give it back. The statuses are read once at start.
 */
export class NodeStatusWithholds {
  private readonly status = new Map<string, string>();
  private readonly announced: AnnouncedIds;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly database: Pick<Database, 'listen' | 'urgent'>,
    private readonly dns: Pick<BuiltinDns, 'withhold' | 'release'>,
    log: Logger,
  ) {
    this.announced = new AnnouncedIds(
      (ids) => this.read(ids),
      (err, count) => log.warn({ err, nodes: count }, "could not read announced nodes' statuses for the built-in DNS; trying again in 1 s"),
    );
  }

  async start(): Promise<void> {
    // Listening first: a decision committed while the statuses are read is announced, and read after them.
    this.unlisten = await this.database.listen(EVENTS_CHANNEL, (payload) => {
      if (payload.startsWith('node:')) this.announced.add(payload.slice('node:'.length));
    });
    const rows = await this.database.urgent.select({ id: nodes.id, status: nodes.status }).from(nodes);
    for (const r of rows) if (!this.status.has(r.id)) this.status.set(r.id, r.status);
  }

  async stop(): Promise<void> {
    await this.unlisten?.().catch(() => {});
    await this.announced.stop();
  }

  private async read(ids: string[]): Promise<void> {
    const rows = await this.database.urgent.select({ id: nodes.id, ip: nodes.ip, status: nodes.status }).from(nodes).where(inArray(nodes.id, ids));
    for (const r of rows) {
      const was = this.status.get(r.id);
      this.status.set(r.id, r.status);
      if (r.status === 'fault' && was === 'normal') this.dns.withhold(r.ip);
      else if (r.status === 'normal' && was === 'fault') this.dns.release(r.ip);
    }
    const found = new Set(rows.map((r) => r.id));
    for (const id of ids) if (!found.has(id)) this.status.delete(id); // deleted
  }
}
