import { and, eq, inArray, sql } from 'drizzle-orm';
import type { DnsApplyRequest } from '@ocdn/protocol';
import { Leader } from '../db/leader.ts';
import type { ManagerContext } from '../context.ts';
import { fwdZones, nodes } from '../db/schema.ts';
import type { AgentConnection } from '../hub/connection.ts';
import { activeAt, desiredState, loadModel, type ForwardModel } from './model.ts';
import { defaultTz, forwardingVersion } from './service.ts';

/** Advisory lock key: one replica runs the tick. */
const TICK_LOCK = 7_242_202;

/**
 * The forward-zone scheduler and the push to the DNS nodes. Every OCDN_FORWARD_TICK_MS, on the period's
 * boundaries, one replica evaluates every zone: zones whose state flipped are marked, and when the desired state of
 * the DNS nodes differs from what a node last took, it is sent (nothing changed → nothing sent). A change through
 * the API is sent at once; a node that connects with another state than the desired one gets it.
 */
export class ForwardSync {
  private timer: NodeJS.Timeout | undefined;
  private readonly leader: Leader;
  /** nodeId → hash of the state it last took. */
  private readonly applied = new Map<string, string>();
  private running: Promise<void> | null = null;
  /** The model as of a forwarding version, with the last states and desired state evaluated from it. */
  private held: { version: string; tz: string; model: ForwardModel; active: boolean[] | null; desired: DnsApplyRequest | null } | null = null;
  private again = false;
  private stopped = false;
  private readonly onConnect = (conn: AgentConnection) => {
    // The hello says what forwarding state the node holds (an agent that does not know its roles yet says none);
    // push() sends the desired one to dns nodes that lack it.
    const held = conn.hello.configs.find((c) => c.kind === 'dns')?.hash;
    if (held) this.applied.set(conn.nodeId, held);
    else this.applied.delete(conn.nodeId);
    // Only a DNS node's connection can need forwarding state: thousands of CDN agents reconnecting after a restart
    // must not each start a sync.
    if (conn.roles.includes('dns')) this.changed();
  };

  constructor(private readonly ctx: ManagerContext) {
    // Taking the lead over from a dead replica: a tick at once, not at the next period's boundary.
    this.leader = new Leader(ctx.database, TICK_LOCK, 'forwarding tick', ctx.log, () => void this.run('tick'));
  }

  start(): void {
    this.ctx.hub.on('connected', this.onConnect);
    void this.leader.start();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ctx.hub.off('connected', this.onConnect);
    await this.running?.catch(() => {});
    await this.leader.stop();
  }

  private schedule(): void {
    if (this.stopped) return;
    const period = this.ctx.env.OCDN_FORWARD_TICK_MS;
    const wait = period - (Date.now() % period) + 5; // just past the boundary
    this.timer = setTimeout(() => {
      void this.tick().finally(() => this.schedule());
    }, wait);
    this.timer.unref();
  }

  /** One tick: only the replica holding the lock evaluates. */
  async tick(): Promise<void> {
    if (!this.leader.held) await this.leader.poll();
    if (!this.leader.held) return;
    await this.run('tick');
  }

  /** Resolves once no sync started by a tick or a change is running (nor queued behind one). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Something changed (API, a node connected): bring the DNS nodes up to date now. */
  changed(): void {
    void this.run('change');
  }

  private run(why: 'tick' | 'change'): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run: Promise<void> = this.sync(why)
      .then(() => {})
      .catch((err: unknown) => this.ctx.log.warn({ err: (err as Error).message, component: 'forwarding' }, 'forwarding sync failed; trying again next tick'))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.run('change');
        }
      });
    this.running = run;
    return run;
  }

  /**
   * Evaluates every zone at `now`, records flipped states, and pushes the state to nodes that lack it. The model is
   * read again only when the forwarding version moved (a change on any replica), and the desired state is built
   * again only when some zone's state flipped: a quiet tick over 100,000 zones is one small query and ~3 ms.
   */
  async sync(why: string, now = Date.now()): Promise<{ flipped: number; pushed: string[] }> {
    const t0 = performance.now();
    const tz = defaultTz(this.ctx);
    const version = await forwardingVersion(this.ctx.db); // before the model: a change meanwhile reads it again next time
    let held = this.held;
    if (!held || held.version !== version || held.tz !== tz) {
      held = this.held = { version, tz, model: await loadModel(this.ctx.db, tz), active: null, desired: null };
    }
    const model = held.model;
    const active = activeAt(model, now);
    const same = held.active !== null && held.active.length === active.length && held.active.every((v, i) => v === active[i]);
    const desired = same && held.desired ? held.desired : desiredState(model, active);
    held.active = active;
    held.desired = desired;
    const on = model.zones.filter((z, i) => active[i] && !z.active);
    const off = model.zones.filter((z, i) => !active[i] && z.active);
    if (on.length) await this.ctx.db.update(fwdZones).set({ active: true }).where(inArray(fwdZones.id, on.map((z) => z.id)));
    if (off.length) await this.ctx.db.update(fwdZones).set({ active: false }).where(inArray(fwdZones.id, off.map((z) => z.id)));
    // The held rows follow what was just written.
    for (const z of on) z.active = true;
    for (const z of off) z.active = false;
    const pushed = await this.push(desired);
    const evalMs = Math.round(performance.now() - t0);
    if (why === 'tick' || on.length || off.length || pushed.length) {
      this.ctx.log.info({ component: 'forwarding', why, zones: model.zones.length, on: on.length, off: off.length, pushed, ms: evalMs }, 'forwarding cycle');
    }
    return { flipped: on.length + off.length, pushed };
  }

  private async push(desired: DnsApplyRequest): Promise<string[]> {
    // The DNS nodes only, and only what a call needs: a fleet has thousands of CDN nodes.
    const rows = await this.ctx.db
      .select({ id: nodes.id, ip: nodes.ip, agentPort: nodes.agentPort, token: nodes.token, tls: nodes.tls })
      .from(nodes)
      .where(and(eq(nodes.status, 'normal'), sql`${nodes.roles} @> '["dns"]'::jsonb`));
    const targets = rows.filter((n) => this.applied.get(n.id) !== desired.hash);
    const pushed: string[] = [];
    await Promise.all(
      targets.map(async (n) => {
        const log = this.ctx.log.child({ component: 'forwarding', nodeId: n.id });
        try {
          const r = await this.ctx.traffic.call({ id: n.id, ip: n.ip, agentPort: n.agentPort, token: n.token, tls: n.tls }, 'dns.apply', desired, { timeoutMs: 60_000 });
          this.applied.set(n.id, r.hash);
          pushed.push(n.id);
          if (r.warnings.length) log.warn({ warnings: r.warnings }, 'DNS node applied forwarding with warnings');
          log.info({ driver: r.driver, changed: r.changed, flushed: r.flushed.length }, 'forwarding applied');
        } catch (err) {
          this.applied.delete(n.id);
          log.warn({ err: (err as Error).message }, 'DNS node refused or missed the forwarding state; it keeps its last good one');
        }
      }),
    );
    return pushed;
  }
}
