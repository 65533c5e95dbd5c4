import { inArray } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { nodes } from '../db/schema.ts';
import { EVENTS_CHANNEL } from '../events/live.ts';
import type { Logger } from '../log.ts';
import type { BuiltinDns } from './builtin.ts';

/** Node announcements read together: a fleet's worth arrives at once after a restart. */
const BATCH_MS = 20;
const MAX_IDS = 1_000;

/**
 * Withholds from this replica's built-in DNS the address of a node another replica decided faulty (ZoneAnswers
 * withhold()): the replica that decides withholds it at once, and the others learn it from the node's announcement
 * (drizzle/0007_events.sql: `node:<id>` on `ocdn_events`, at the decision's commit) rather than from FAULT_NODE's record
 * deletions, which during a rollout came 13-23 s later. A node is withheld when it is seen going from `normal` to
 * `fault`, and given back when seen going from `fault` to `normal` (on every replica, the deciding one too: a name
 * that kept the address while the node was down is never published again); the statuses are read once at start.
 */
export class PeerFaults {
  private readonly status = new Map<string, string>();
  private readonly due = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private unlisten: (() => Promise<void>) | undefined;
  private stopped = false;

  constructor(
    private readonly database: Pick<Database, 'listen' | 'urgent'>,
    private readonly dns: Pick<BuiltinDns, 'withhold' | 'release'>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    // Listening first: a decision committed while the statuses are read is announced, and read after them.
    this.unlisten = await this.database.listen(EVENTS_CHANNEL, (payload) => this.announced(payload));
    const rows = await this.database.urgent.select({ id: nodes.id, status: nodes.status }).from(nodes);
    for (const r of rows) if (!this.status.has(r.id)) this.status.set(r.id, r.status);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.unlisten?.().catch(() => {});
    await this.reading;
  }

  private announced(payload: string): void {
    if (this.stopped || !payload.startsWith('node:')) return;
    this.due.add(payload.slice('node:'.length));
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.reading = this.reading.then(() => this.read());
    }, BATCH_MS);
  }

  private async read(): Promise<void> {
    while (this.due.size > 0 && !this.stopped) {
      const ids = [...this.due].slice(0, MAX_IDS);
      for (const id of ids) this.due.delete(id);
      try {
        const rows = await this.database.urgent.select({ id: nodes.id, ip: nodes.ip, status: nodes.status }).from(nodes).where(inArray(nodes.id, ids));
        for (const r of rows) {
          const was = this.status.get(r.id);
          this.status.set(r.id, r.status);
          if (r.status === 'fault' && was === 'normal') this.dns.withhold(r.ip);
          // Recovered (RECOVER_NODE's last step, after its checks): a name that kept its address while it was down
          // (FAULT_NODE fails open) publishes nothing new, so nothing else would give it back.
          else if (r.status === 'normal' && was === 'fault') this.dns.release(r.ip);
        }
        const found = new Set(rows.map((r) => r.id));
        for (const id of ids) if (!found.has(id)) this.status.delete(id); // deleted
      } catch (err) {
        // The database away: what it would have said comes with FAULT_NODE's record deletions.
        this.log.warn({ err, nodes: ids.length }, "could not read announced nodes' statuses for the built-in DNS");
      }
    }
  }
}
