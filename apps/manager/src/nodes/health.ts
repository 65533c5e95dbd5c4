import { and, gt, inArray } from 'drizzle-orm';
import Bottleneck from 'bottleneck';
import type { ManagerContext } from '../context.ts';
import { nodes } from '../db/schema.ts';
import type { NodeEndpoint } from '../hub/traffic.ts';
import { OCDN_NODE_HEART } from './heart.ts';
import { agentPortState } from './port-probe.ts';
import { LoopLag, afterPendingIo, nextTurn } from '../hub/lag.ts';
import { Leader } from '../db/leader.ts';
import { conclusiveFault, countCheck, type HealthCount } from './hysteresis.ts';
import { NodeRunStarter, type HealthRunKind } from './node-runs.ts';
import { HealthWatch } from './watch.ts';
import type { Decided } from './watch-messages.ts';

const HEALTH_LOCK = 7_242_002;
/** How much later than due a heartbeat may be before its socket counts as silent. */
const SILENCE_SLACK_MS = 250;
/** Nodes checked per turn of the event loop in a tick (at 5,000 nodes a whole tick held the thread ~0.3 s). */
const TICK_SLICE = 500;
/** Nodes read per statement when the monitor reads the node list again. */
const REFRESH_PAGE = 1_000;

interface Health extends HealthCount {
  node: NodeEndpoint & { status: string };
  /** An HTTP heartbeat is in flight; its result counts when it lands. */
  probing: boolean;
  /** Fires when the node's open socket will have been silent for OCDN_FAULT_AFTER heartbeat periods. */
  silence?: NodeJS.Timeout | undefined;
}

/**
 * The health monitor: every OCDN_HEARTBEAT_INTERVAL_MS it checks each `normal` or `fault` node — a fresh heartbeat
 * on the node's socket, else OCDN_NODE_HEART over the agent's HTTP API. OCDN_FAULT_AFTER misses in a row start
 * FAULT_NODE; OCDN_RECOVER_AFTER successes in a row start RECOVER_NODE. Counts live in memory; only state changes
 * reach the database. One replica runs it (advisory lock).
 *
 * Two kinds of evidence do not wait for three ticks. An agent's socket closing (its process died, its host went
 * down) is checked at once with one fast probe: refused or timed out, the node is faulty now. A socket that stays
 * open but goes silent (the host froze) is faulty once it has been silent for OCDN_FAULT_AFTER heartbeat periods,
 * to the moment, not at the next tick after the third missed check.
 */
export class HealthMonitor {
  private readonly health = new Map<string, Health>();
  private readonly probes = new Bottleneck({ maxConcurrent: 64 });
  private timer: NodeJS.Timeout | undefined;
  private readonly leader: Leader;
  /** This replica led at the previous tick (the first tick as leader follows start-up or a takeover). */
  private led = false;
  private lastRefresh = 0;
  private refreshing: Promise<void> | null = null;
  private stopped = false;
  private tickDueAt = 0;
  private readonly lag = new LoopLag();
  private readonly runs: NodeRunStarter;
  /** The health watch thread (OCDN_HEALTH_WATCH): a dead agent decided without waiting for this thread. */
  private watch: HealthWatch | undefined;

  private readonly onDisconnect = (nodeId: string) => this.socketClosed(nodeId);

  constructor(private readonly ctx: ManagerContext) {
    this.leader = new Leader(ctx.database, HEALTH_LOCK, 'health monitor', ctx.log);
    this.runs = new NodeRunStarter(ctx, () => !this.stopped && this.leader.held);
  }

  async start(): Promise<void> {
    this.ctx.hub.on('disconnected', this.onDisconnect);
    await this.leader.start();
    const watch = this.ctx.env.OCDN_HEALTH_WATCH;
    if (watch !== 'off') this.watch = new HealthWatch(this.ctx, (m) => this.watched(m));
    this.schedule();
  }

  /** The health watch thread's id, once it runs. */
  get watchThreadId(): number | undefined {
    return this.watch?.tid;
  }

  /** Agents' heartbeat streams the health watch thread holds open (0 without the thread). */
  get watchStreams(): number {
    return this.watch?.streams ?? 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.runs.stop();
    this.ctx.hub.off('disconnected', this.onDisconnect);
    for (const h of this.health.values()) clearTimeout(h.silence);
    clearTimeout(this.timer);
    this.lag.stop();
    await this.watch?.stop();
    await this.leader.stop();
  }

  /** Ask for a fresh node list at the next tick (a node was added, removed or changed status). */
  invalidate(): void {
    this.lastRefresh = 0;
  }

  private schedule(): void {
    if (this.stopped) return;
    const period = this.ctx.env.OCDN_HEARTBEAT_INTERVAL_MS;
    const delay = period - (Date.now() % period); // align ticks to the period
    this.tickDueAt = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.tick()
        .catch((err: unknown) => this.ctx.log.error({ err }, 'health tick failed'))
        .finally(() => this.schedule());
    }, delay);
  }

  private async tick(): Promise<void> {
    const interval = this.ctx.env.OCDN_HEARTBEAT_INTERVAL_MS;
    const late = Date.now() - this.tickDueAt;
    const lagMs = this.lag.takeMaxMs();
    if (!this.leader.held) {
      if (this.led) {
        this.watch?.lead(false);
        this.watch?.watch([]); // another replica's thread watches them
      }
      this.led = false;
      return; // another replica runs the monitor
    }
    this.watch?.lead(true);
    const first = !this.led;
    this.led = true;
    // The first tick as the runner follows start-up (migrations, loading, compiling) or a takeover: a stall then is
    // not overload, and its heartbeats are judged from the next tick on anyway.
    if (!first && (late > interval / 2 + 100 || lagMs > interval / 2 + 100)) {
      // This process stalled or is overloaded: heartbeats are waiting unread, so silence now would blame healthy
      // nodes. (Under sustained overload no fault is detected; the warning says so.)
      this.ctx.log.warn({ lateMs: late, loopLagMs: Math.round(lagMs) }, 'manager overloaded; health tick skipped');
      this.ctx.metrics.healthTicks.inc({ outcome: 'skipped' });
      return;
    }
    this.ctx.metrics.healthTicks.inc({ outcome: 'checked' });
    if (Date.now() - this.lastRefresh > 5_000) await this.refresh();
    const freshAfter = Date.now() - interval * 1.5 - 200;
    let checked = 0;
    for (const h of this.health.values()) {
      // A fleet's thousands of nodes are checked a slice per turn (the first tick after a restart probes each one).
      if (++checked % TICK_SLICE === 0) {
        await nextTurn();
        if (this.stopped || !this.leader.held) return;
        if (this.health.get(h.node.id) !== h) continue; // gone since (a refresh)
      }
      const conn = this.ctx.hub.get(h.node.id);
      if (conn?.open && conn.lastSeenAt < Date.now() - interval - SILENCE_SLACK_MS) this.watchSilence(h, conn.lastSeenAt);
      if (conn?.open && conn.lastSeenAt >= freshAfter) {
        this.record(h, true);
      } else if (!h.probing) {
        // A probe still in flight (queued behind others when many nodes are down at once) counts when it lands,
        // once: counting the tick as well would turn a slow queue into false faults.
        h.probing = true;
        this.probe(h, Math.max(100, Math.floor(interval * 0.8)), !conn?.open)
          .then((ok) => this.record(h, ok))
          .finally(() => (h.probing = false));
      }
    }
  }

  /**
   * One heartbeat check of a node in a tick: whether it answered as the node. Without a link to the agent (every node
   * for a while after a restart, thousands at fleet size; a faulty node until it recovers) the watch thread asks over
   * the agent's HTTP API, and this thread sees one message per batch. Linked nodes are asked over their link, and
   * every node here when the thread does not run.
   */
  private async probe(h: Health, timeoutMs: number, unlinked: boolean): Promise<boolean> {
    const byThread = unlinked ? await this.watch?.probe(h.node, timeoutMs) : undefined;
    if (byThread !== undefined) {
      this.ctx.metrics.healthProbes.inc({ via: 'watch', outcome: byThread === null ? 'ok' : 'failed' });
      return byThread === null;
    }
    const ok = await this.probes.schedule(() => OCDN_NODE_HEART(this.ctx, h.node, timeoutMs)).then(
      () => true,
      () => false,
    );
    this.ctx.metrics.healthProbes.inc({ via: 'manager', outcome: ok ? 'ok' : 'failed' });
    return ok;
  }

  /** The agent's socket closed: one fast probe, and a node that does not answer it is faulty at once. */
  private socketClosed(nodeId: string): void {
    if (this.stopped || !this.leader.held) return;
    if (!this.health.has(nodeId)) {
      // A node that became normal since the last look at the node list (it joined a moment ago): look again first.
      void this.refresh()
        .then(() => this.health.has(nodeId) && this.socketClosed(nodeId))
        .catch(() => {});
      return;
    }
    const h = this.health.get(nodeId)!;
    if (!h.healthy) {
      // A faulty node recovers after OCDN_RECOVER_AFTER good checks in a row, and a socket that closed between two
      // of them was no good run: its count starts again. (A check sees the socket of the moment: an agent that
      // flaps faster than the checks could otherwise be found connected at three ticks in a row and recover, only
      // to fail again at its next exit.)
      h.successes = 0;
      return;
    }
    clearTimeout(h.silence);
    h.silence = undefined;
    const timeoutMs = Math.max(100, Math.min(500, Math.floor(this.ctx.env.OCDN_HEARTBEAT_INTERVAL_MS / 2)));
    // A connect to the agent's port first: refused, the agent's process is gone, decided in one turn of the event
    // loop. Something listening there gets the full heartbeat (a restarting agent, or another process on the port)
    // within what is left of the probe's time.
    const deadline = Date.now() + timeoutMs;
    const probe = agentPortState(h.node, timeoutMs).then((state) =>
      state === 'open'
        ? OCDN_NODE_HEART(this.ctx, h.node, Math.max(50, deadline - Date.now())).then(() => null)
        : `nothing answers a connection to its port (${state})`,
    );
    probe.then(
      (failed) => {
        if (failed) this.unanswered(h, failed);
      },
      (err: unknown) => {
        // Something accepted the connection (the agent's process is alive) but its heartbeat took too long: on a
        // busy manager the answer may be waiting unread. Not conclusive; the ticks count it like any missed check.
        if ((err as { code?: unknown }).code === 'timeout') {
          this.ctx.log.info({ nodeId: h.node.id, err: (err as Error).message }, "agent's socket closed and its heartbeat is slow; the next checks decide");
          return;
        }
        this.unanswered(h, (err as Error).message);
      },
    );
  }

  /**
   * The watch thread found the agent's heartbeat stream closed and its port refusing connections. It wrote the
   * decision itself (PostgreSQL: the run is executed here) or leaves it to this monitor (the embedded database).
   */
  private watched(m: Decided): void {
    this.judgeWatched(m);
    // Its write (if any) under way: this thread's priority goes back once it is written.
    if (m.raisedFrom !== null) this.watch?.lowerAfter(this.runs.settled(), m.raisedFrom);
  }

  private judgeWatched(m: Decided): void {
    if (m.run) {
      const { id, kind } = m.run;
      this.ctx.engine.dispatch(id, { kind }).catch((err: unknown) => this.ctx.log.error({ err, pipelineId: id }, `could not start ${kind}`));
    }
    const h = this.health.get(m.nodeId);
    if (this.stopped || !h || !h.healthy) return; // decided here already (the agent's link closed too)
    this.ctx.log.info({ nodeId: m.nodeId, err: m.reason, via: 'heartbeat stream' }, "agent's socket closed and the agent does not answer");
    clearTimeout(h.silence);
    h.silence = undefined;
    this.conclude(h, m.run !== null);
  }

  private unanswered(h: Health, reason: string): void {
    if (this.ctx.hub.get(h.node.id)?.open) return; // it came back meanwhile (a reconnect): the ticks judge it
    this.ctx.log.info({ nodeId: h.node.id, err: reason }, "agent's socket closed and the agent does not answer");
    this.conclude(h);
  }

  /**
   * The node's socket is open but has been silent since `lastSeenAt`: unless a frame arrives first, the node is
   * faulty once the silence reaches OCDN_FAULT_AFTER periods (plus a little slack).
   */
  private watchSilence(h: Health, lastSeenAt: number): void {
    if (h.silence || !h.healthy || !this.leader.held) return;
    const { OCDN_HEARTBEAT_INTERVAL_MS: interval, OCDN_FAULT_AFTER: faultAfter } = this.ctx.env;
    const due = lastSeenAt + interval * faultAfter + SILENCE_SLACK_MS;
    // Nothing has been read from the node's open socket since `lastSeenAt`, and this monitor still watches it.
    const stillSilent = () => {
      const conn = this.ctx.hub.get(h.node.id);
      return !this.stopped && conn?.open === true && conn.lastSeenAt === lastSeenAt && this.health.get(h.node.id) === h;
    };
    const arm = (at: number) => {
      h.silence = setTimeout(() => {
        h.silence = undefined;
        if (!stillSilent()) return;
        // Fired late: this process stalled, and frames may be waiting unread. Look again shortly.
        if (Date.now() - at > SILENCE_SLACK_MS) return arm(Date.now() + SILENCE_SLACK_MS);
        // Even on time, frames that came while this thread was busy wait in the socket until the poll phase after
        // the timers: judge once it has run.
        afterPendingIo(() => {
          if (!stillSilent()) return;
          this.ctx.log.info({ nodeId: h.node.id, silentMs: Date.now() - lastSeenAt }, "agent's socket is open but silent");
          this.conclude(h);
        });
      }, Math.max(0, at - Date.now()));
    };
    arm(due);
  }

  /** The node is faulty now; `written`: its decision is in the database already (the watch thread wrote it). */
  private conclude(h: Health, written = false): void {
    if (this.stopped || this.health.get(h.node.id) !== h) return;
    const { next, change } = conclusiveFault(h, this.ctx.env.OCDN_FAULT_AFTER);
    Object.assign(h, next);
    if (change) this.startRun(h, 'FAULT_NODE', written);
  }

  private record(h: Health, ok: boolean): void {
    if (this.stopped || this.health.get(h.node.id) !== h) return;
    const { next, change } = countCheck(h, ok, this.ctx.env.OCDN_FAULT_AFTER, this.ctx.env.OCDN_RECOVER_AFTER);
    Object.assign(h, next);
    if (change) this.startRun(h, change === 'fault' ? 'FAULT_NODE' : 'RECOVER_NODE');
  }

  private startRun(h: Health, kind: HealthRunKind, written = false): void {
    const { id, ip } = h.node;
    this.ctx.log.warn({ nodeId: id, ip, misses: h.misses, successes: h.successes }, kind === 'FAULT_NODE' ? 'node failed its heartbeats' : 'node is answering again');
    // Out of the built-in DNS's answers at once (the watch thread did it already for a decision of its own).
    if (kind === 'FAULT_NODE') this.ctx.dns.server?.withhold(ip);
    if (!written) this.runs.start({ id, ip }, kind);
  }

  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      // In pages, a turn each: on the embedded database one read of 5,000 nodes held this thread ~0.3 s (its
      // query and the parsing of its rows), every few seconds.
      const rows: (NodeEndpoint & { status: string })[] = [];
      for (;;) {
        const after = rows.at(-1)?.id;
        const page = await this.ctx.db
          .select({ id: nodes.id, ip: nodes.ip, agentPort: nodes.agentPort, token: nodes.token, tls: nodes.tls, status: nodes.status })
          .from(nodes)
          .where(and(inArray(nodes.status, ['normal', 'fault']), after === undefined ? undefined : gt(nodes.id, after)))
          .orderBy(nodes.id)
          .limit(REFRESH_PAGE);
        rows.push(...page);
        if (page.length < REFRESH_PAGE) break;
        await nextTurn();
      }
      const seen = new Set<string>();
      for (const row of rows) {
        seen.add(row.id);
        const h = this.health.get(row.id);
        if (!h) {
          this.health.set(row.id, { node: row, healthy: row.status === 'normal', misses: 0, successes: 0, probing: false });
        } else {
          h.node = row;
        }
      }
      for (const [id, h] of this.health) {
        if (seen.has(id)) continue;
        clearTimeout(h.silence);
        this.health.delete(id);
      }
      this.lastRefresh = Date.now();
      // Going through thousands of rows took this turn: what the watch thread is told goes in the next.
      await nextTurn();
      if (this.leader.held) this.watch?.watch(rows.filter((r) => r.status === 'normal').map(({ id, ip, agentPort, token, tls }) => ({ id, ip, agentPort, token, tls })));
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }
}
