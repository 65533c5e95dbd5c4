import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { vodTasks } from '../db/schema.ts';
import { getDomain } from '../domains/service.ts';
import { ServiceError } from '../errors.ts';
import { getZone } from '../forwarding/zones.ts';
import { getNode } from '../nodes/service.ts';
import { getPipeline } from '../pipelines/service.ts';
import { toTaskView } from '../vod/tasks.ts';
import { spaced } from '../spaced.ts';

/** The channel the database triggers announce changes on (drizzle/0007_events.sql): payload `<kind>:<key>`. */
export const EVENTS_CHANNEL = 'ocdn_events';

/** The kinds of `GET /api/v1/events` (API.md "Live events"); `removed` says an item is gone. */
export type LiveEventName = 'node' | 'domain' | 'pipeline' | 'task' | 'zone' | 'removed';

export interface LiveEvent {
  seq: number;
  name: LiveEventName;
  /** The `data:` line, JSON. */
  data: string;
  at: number;
}

export interface LiveClient {
  /** Takes one event; returns false when the client cannot keep up (it is then dropped). */
  send(e: LiveEvent, id: string): boolean;
}

export interface LiveEventsOptions {
  /** Announcements arriving within this window are read once. */
  coalesceMs?: number;
  /** Events kept for clients that reconnect (API.md: at least 10 minutes). */
  keepMs?: number;
  /** A bound on the memory the kept events take. */
  keepBytes?: number;
}

const LOAD_CONCURRENCY = 4;

/**
 * Live events for the console, from every replica: the database announces each committed change (triggers and
 * NOTIFY, so a change made through any replica or by any loop is seen), and each replica reads the changed item once
 * — as its GET shows it — and hands it to its own clients. Event ids are `<boot>-<seq>`: a client that reconnects
 * to the same process gets what it missed from the kept events; one that comes back to another replica or after a
 * gap gets `reset` and reads the lists again. Nothing is read while no client listens.
 */
export class LiveEvents {
  private readonly boot = randomBytes(4).toString('hex');
  private seq = 0;
  /** Events up to this seq were not kept (nobody listened): a client asking from before it gets `reset`. */
  private lostUpTo = 0;
  private readonly kept: LiveEvent[] = [];
  private keptBytes = 0;
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly clients = new Set<LiveClient>();
  private unlisten: (() => Promise<void>) | null = null;
  private readonly coalesceMs: number;
  private readonly keepMs: number;
  private readonly keepBytes: number;
  private stopped = false;
  /** Keys to announce in the next notice statement, and the promise that they were. */
  private readonly announcing = new Set<string>();
  private announceFlush: Promise<void> | null = null;
  /** At most one notice statement per 50 ms while changes keep coming (clients hear of them 100 ms coalesced anyway). */
  private readonly announceLater = spaced(50);

  constructor(
    private readonly ctx: ManagerContext,
    opts: LiveEventsOptions = {},
  ) {
    this.coalesceMs = opts.coalesceMs ?? 100;
    this.keepMs = opts.keepMs ?? 15 * 60_000;
    this.keepBytes = opts.keepBytes ?? 32 * 1024 * 1024;
  }

  async start(): Promise<void> {
    this.unlisten = await this.ctx.database.listen(EVENTS_CHANNEL, (payload) => this.announced(payload));
    // Connected or not is known to the replica holding the agent's link, not to the database: say it to all.
    const say = (nodeId: string) => void this.announce(`node:${nodeId}`);
    this.ctx.hub.on('connected', (conn: { nodeId: string }) => say(conn.nodeId));
    this.ctx.hub.on('disconnected', (nodeId: string) => say(nodeId));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.unlisten?.().catch(() => {});
    await this.flushing;
  }

  /**
   * Tells every replica that `key` changed (outside the triggers' reach). The keys that come together go in one
   * statement (spaced.ts): thousands of agents connect at once after a restart.
   */
  announce(key: string): Promise<void> {
    this.announcing.add(key);
    this.announceFlush ??= new Promise<void>((resolve) =>
      this.announceLater(() => {
        const keys = [...this.announcing];
        this.announcing.clear();
        this.announceFlush = null;
        this.ctx.db
          .execute(sql`select pg_notify(${EVENTS_CHANNEL}, k) from jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb) as k`)
          .catch((err: unknown) => this.ctx.log.warn({ err: (err as Error).message, keys: keys.length }, 'could not announce a change'))
          .finally(resolve);
      }),
    );
    return this.announceFlush;
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Adds a client. With `lastEventId`, first replays what it missed, or returns 'reset' when that cannot be done.
   * Returns a function that removes the client.
   */
  subscribe(client: LiveClient, lastEventId?: string): { replay: 'ok' | 'reset'; unsubscribe: () => void } {
    let replay: 'ok' | 'reset' = 'ok';
    if (lastEventId !== undefined) {
      const m = /^([0-9a-f]{8})-([0-9]{1,15})$/.exec(lastEventId);
      const from = m && m[1] === this.boot ? Number(m[2]) : -1;
      const oldest = this.kept[0]?.seq ?? this.seq + 1;
      if (from < 0 || from > this.seq || from < this.lostUpTo || from < oldest - 1) replay = 'reset';
      else for (const e of this.kept) if (e.seq > from && !client.send(e, this.idOf(e))) break;
    }
    this.clients.add(client);
    return { replay, unsubscribe: () => this.clients.delete(client) };
  }

  idOf(e: LiveEvent): string {
    return `${this.boot}-${e.seq}`;
  }

  private announced(payload: string): void {
    if (this.stopped) return;
    if (this.clients.size === 0) {
      // Nobody to tell: nothing is read, and a client coming back from before now must read the lists again.
      this.lostUpTo = ++this.seq;
      return;
    }
    this.pending.add(payload);
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flushing = (this.flushing ?? Promise.resolve()).then(() => this.flush());
    }, this.coalesceMs);
  }

  private async flush(): Promise<void> {
    const keys = [...this.pending];
    this.pending.clear();
    let next = 0;
    const worker = async () => {
      while (next < keys.length && !this.stopped) {
        const key = keys[next++]!;
        const e = await this.load(key);
        if (e) this.emit(e.name, e.data);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, keys.length) }, worker));
  }

  private async load(payload: string): Promise<{ name: LiveEventName; data: unknown } | null> {
    const colon = payload.indexOf(':');
    const kind = payload.slice(0, colon);
    const key = payload.slice(colon + 1);
    try {
      switch (kind) {
        case 'node':
          return { name: 'node', data: await getNode(this.ctx, key) };
        case 'domain':
          return { name: 'domain', data: await getDomain(this.ctx, key) };
        case 'pipeline':
          return { name: 'pipeline', data: await getPipeline(this.ctx, key) };
        case 'task': {
          const [row] = await this.ctx.db.select().from(vodTasks).where(eq(vodTasks.id, key));
          return row ? { name: 'task', data: toTaskView(row) } : { name: 'removed', data: { kind: 'task', id: key } };
        }
        case 'zone': {
          const slash = key.indexOf('/');
          return { name: 'zone', data: await getZone(this.ctx, key.slice(0, slash), key.slice(slash + 1)) };
        }
        default:
          return null;
      }
    } catch (err) {
      if (err instanceof ServiceError && err.code === 'not_found') return { name: 'removed', data: { kind, id: key } };
      this.ctx.log.warn({ err: (err as Error).message, kind, key }, 'could not read a changed item for live events');
      return null;
    }
  }

  private emit(name: LiveEventName, value: unknown): void {
    const e: LiveEvent = { seq: ++this.seq, name, data: JSON.stringify(value), at: Date.now() };
    this.kept.push(e);
    this.keptBytes += e.data.length;
    const cutoff = e.at - this.keepMs;
    while (this.kept.length > 1 && (this.kept[0]!.at < cutoff || this.keptBytes > this.keepBytes)) {
      this.keptBytes -= this.kept.shift()!.data.length;
    }
    const id = this.idOf(e);
    for (const c of this.clients) if (!c.send(e, id)) this.clients.delete(c);
  }
}
