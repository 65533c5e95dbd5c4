import { createHash } from 'node:crypto';
import { notInArray } from 'drizzle-orm';
import { Leader } from '../db/leader.ts';
import type { ManagerContext } from '../context.ts';
import { nodes, vodInventory } from '../db/schema.ts';
import type { NodeEndpoint } from '../hub/traffic.ts';
import { MetaLoader, type VodMeta } from './meta.ts';
import { planRemovals, planTasks, rankedOrder, unrankedOnSources, type ServerView } from './plan.ts';
import { busyFiles, insertTasks, purgeRemoved, queuedTasks, removeFromQueue } from './tasks.ts';

/** Advisory lock key: one replica runs the VOD loops. */
const VOD_LOCK = 7_242_101;

type LoopName = 'heartbeat' | 'remover' | 'tasks';

interface VodNode extends NodeEndpoint {
  roles: string[];
}

/**
 * VOD placement, the seed's central file manager (cfm): three loops, each every OCDN_VOD_LOOP_MS, run by one
 * replica (advisory lock). The heartbeat loop checks every VOD and source server; the file remover deletes
 * duplicates and, on full disks, the least popular files; the task manager cleans the task queue and queues the
 * most popular missing files. The decisions are pure functions (plan.ts); this class does the I/O and logs one line
 * per cycle.
 */
export class VodPlacement {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<LoopName>();
  private readonly cycles = new Set<Promise<void>>();
  private readonly leader: Leader;
  /** nodeId → passed the last heartbeat. Empty until the first heartbeat cycle: nobody is judged before. */
  private health = new Map<string, boolean>();
  private streaks = new Map<string, { healthy: boolean; streak: number }>();
  /** What record() last wrote per node, and when. */
  private readonly recorded = new Map<string, { key: string; at: number }>();
  private heartbeatRan = false;
  private order: { meta: VodMeta; order: string[] } | null = null;
  private readonly meta: MetaLoader | null;
  private stopped = false;

  constructor(private readonly ctx: ManagerContext) {
    this.meta = ctx.env.OCDN_VOD_META_DIR ? new MetaLoader(ctx.env.OCDN_VOD_META_DIR) : null;
    // Taking the lead over from a dead replica: the heartbeat loop runs at once, not at its next period.
    this.leader = new Leader(ctx.database, VOD_LOCK, 'VOD placement', ctx.log, () => void this.tick('heartbeat'));
  }

  get enabled(): boolean {
    return this.meta !== null;
  }

  start(): void {
    if (!this.meta) {
      this.ctx.log.info('VOD placement is off (OCDN_VOD_META_DIR is not set)');
      return;
    }
    void this.leader.start();
    const period = this.ctx.env.OCDN_VOD_LOOP_MS;
    for (const name of ['heartbeat', 'remover', 'tasks'] as const) {
      const t = setInterval(() => this.tick(name), period);
      t.unref();
      this.timers.push(t);
    }
    this.tick('heartbeat');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.cycles]);
    await this.leader.stop();
  }

  /** Runs one cycle of a loop now (unless it is running already); resolves when it is over. Tests call it too. */
  tick(name: LoopName): Promise<void> {
    if (this.running.has(name) || this.stopped) return Promise.resolve();
    this.running.add(name);
    const log = this.ctx.log.child({ component: 'vod', loop: name });
    const cycle = (async () => {
      try {
        if (!(await this.lead())) return;
        if (name === 'heartbeat') await this.heartbeatCycle(log);
        else if (!this.heartbeatRan) return; // judge no server before it was checked once
        else if (name === 'remover') await this.removerCycle(log);
        else await this.taskCycle(log);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'VOD cycle failed; trying again next period');
      } finally {
        this.running.delete(name);
      }
    })();
    this.cycles.add(cycle);
    void cycle.finally(() => this.cycles.delete(cycle));
    return cycle;
  }

  private async lead(): Promise<boolean> {
    if (!this.leader.held) await this.leader.poll();
    return this.leader.held;
  }

  private async vodNodes(): Promise<VodNode[]> {
    const rows = await this.ctx.db.select().from(nodes).where(notInArray(nodes.status, ['deleting', 'delete']));
    return rows
      .filter((r) => r.roles.some((role) => role === 'vod' || role === 'vod-source'))
      .map((r) => ({ id: r.id, ip: r.ip, agentPort: r.agentPort, token: r.token, tls: r.tls, roles: r.roles }));
  }

  private timeout(): number {
    return Math.max(1000, Math.min(10_000, this.ctx.env.OCDN_VOD_LOOP_MS));
  }

  private async heartbeatCycle(log: ManagerContext['log']): Promise<void> {
    const t0 = performance.now();
    const list = await this.vodNodes();
    const results = await Promise.all(
      list.map((n) =>
        this.ctx.traffic.call(n, 'node.heartbeat', {}, { timeoutMs: this.timeout() }).then(
          () => [n.id, true] as const,
          () => [n.id, false] as const,
        ),
      ),
    );
    // Hysteresis, as for CDN nodes: OCDN_FAULT_AFTER misses in a row make a server unhealthy, OCDN_RECOVER_AFTER
    // successes healthy again, so that an agent restart does not throw away its tasks. The first check decides.
    const next = new Map<string, { healthy: boolean; streak: number }>();
    for (const [id, ok] of results) {
      const prev = this.streaks.get(id);
      if (!prev) next.set(id, { healthy: ok, streak: 0 });
      else if (ok === prev.healthy) next.set(id, { healthy: ok, streak: 0 });
      else {
        const streak = prev.streak + 1;
        const flip = streak >= (ok ? this.ctx.env.OCDN_RECOVER_AFTER : this.ctx.env.OCDN_FAULT_AFTER);
        next.set(id, { healthy: flip ? ok : prev.healthy, streak: flip ? 0 : streak });
      }
    }
    this.streaks = next;
    this.health = new Map([...next].map(([id, h]) => [id, h.healthy]));
    this.heartbeatRan = true;
    const down = [...next].filter(([, h]) => !h.healthy).map(([id]) => id);
    const missed = results.filter(([, ok]) => !ok).map(([id]) => id);
    log.info({ servers: results.length, healthy: results.length - down.length, down, missed, ms: Math.round(performance.now() - t0) }, 'VOD heartbeat cycle');
  }

  /** Lists files and disk of each healthy server (the seed's GET /files and GET /df), and records them. */
  private async look(list: VodNode[], withDf: (n: VodNode) => boolean): Promise<Map<string, ServerView>> {
    const views = await Promise.all(
      list.map(async (n): Promise<ServerView> => {
        const healthy = this.health.get(n.id) === true;
        if (!healthy) return { nodeId: n.id, healthy, files: null, df: null };
        // A server that missed a beat but is not yet judged unhealthy may not answer: it is kept, unlisted.
        try {
          const [files, df] = await Promise.all([
            this.ctx.traffic.call(n, 'vod.files', {}, { timeoutMs: this.timeout() * 3 }),
            withDf(n) ? this.ctx.traffic.call(n, 'vod.df', {}, { timeoutMs: this.timeout() }) : Promise.resolve(null),
          ]);
          const map = new Map(files.items.map((f) => [f.name, f.size] as const));
          await this.record(n.id, map, df);
          return { nodeId: n.id, healthy, files: map, df };
        } catch (err) {
          this.ctx.log.warn({ nodeId: n.id, err: (err as Error).message }, 'could not list a VOD server');
          return { nodeId: n.id, healthy, files: null, df: null };
        }
      }),
    );
    return new Map(views.map((v) => [v.nodeId, v]));
  }

  /**
   * Records what a server holds, for the catalog (any replica serves it). Written only when the file list or the disk
   * changed, or a minute passed (to keep checkedAt fresh): both loops look every period.
   */
  private async record(nodeId: string, files: Map<string, number>, df: ServerView['df']): Promise<void> {
    const pairs = [...files];
    const filesHash = createHash('sha256').update(JSON.stringify(pairs)).digest('hex');
    const dfOut = df ? { total: df.total, free: df.free, used: df.used, usedPercent: df.usedPercent } : null;
    const key = `${filesHash}|${JSON.stringify(dfOut)}`;
    const last = this.recorded.get(nodeId);
    if (last && last.key === key && Date.now() - last.at < 60_000) return;
    const values = { nodeId, files: pairs, df: dfOut, filesHash, checkedAt: new Date() };
    await this.ctx.db
      .insert(vodInventory)
      .values(values)
      .onConflictDoUpdate({ target: vodInventory.nodeId, set: { files: values.files, df: values.df, filesHash, checkedAt: values.checkedAt } });
    this.recorded.set(nodeId, { key, at: Date.now() });
  }

  private async metaAndOrder(): Promise<{ meta: VodMeta; order: string[] }> {
    const meta = await this.meta!.load();
    if (this.order?.meta !== meta) {
      if (meta.issues.length) this.ctx.log.warn({ issues: meta.issues.slice(0, 20), count: meta.issues.length }, 'VOD metadata lines skipped');
      this.order = { meta, order: rankedOrder(meta.ranks) };
    }
    return this.order;
  }

  private async removerCycle(log: ManagerContext['log']): Promise<void> {
    const t0 = performance.now();
    const { meta } = await this.metaAndOrder();
    const vods = (await this.vodNodes()).filter((n) => n.roles.includes('vod'));
    const views = await this.look(vods, () => true);
    const busy = await busyFiles(this.ctx);
    const deletions = planRemovals({ ranks: meta.ranks, vods: [...views.values()], busy, highPercent: this.ctx.env.OCDN_VOD_DISK_HIGH, lowPercent: this.ctx.env.OCDN_VOD_DISK_LOW });
    const byId = new Map(vods.map((n) => [n.id, n]));
    const failed: { nodeId: string; name: string; err: string }[] = [];
    await Promise.all(
      deletions.map((d) =>
        this.ctx.traffic.call(byId.get(d.nodeId)!, 'vod.deleteFile', { name: d.name }).catch((err: unknown) => {
          failed.push({ nodeId: d.nodeId, name: d.name, err: (err as Error).message });
        }),
      ),
    );
    log.info(
      {
        servers: views.size,
        duplicates: deletions.filter((d) => d.reason === 'duplicate').map((d) => `${d.nodeId}:${d.name}`),
        evicted: deletions.filter((d) => d.reason === 'disk').map((d) => `${d.nodeId}:${d.name}`),
        failed,
        ms: Math.round(performance.now() - t0),
      },
      'VOD file remover cycle',
    );
  }

  private async taskCycle(log: ManagerContext['log']): Promise<void> {
    const t0 = performance.now();
    const now = Date.now();
    const { meta, order } = await this.metaAndOrder();
    const all = await this.vodNodes();
    // The queue before the servers' files: a worker renames its file into place and then reports the task done, so a
    // task read as not done yet still counts as queued, and one read as done has its file in the listings that follow.
    // Listed first, a file that landed between the listing and the queue's read was on no server and in no task, and
    // got a second task (seen in CI: two done tasks for one file).
    const queue = await queuedTasks(this.ctx);
    const views = await this.look(all, (n) => n.roles.includes('vod'));
    const vods = all.filter((n) => n.roles.includes('vod')).map((n) => views.get(n.id)!);
    const sources = all.filter((n) => n.roles.includes('vod-source')).map((n) => views.get(n.id)!);
    const plan = planTasks({
      order,
      unranked: () => unrankedOnSources(meta.ranks, sources),
      sizes: meta.sizes,
      tasks: queue,
      vods,
      sources,
      now,
      timeoutMs: this.ctx.env.OCDN_VOD_TASK_TIMEOUT_MS,
      concurrency: this.ctx.env.OCDN_VOD_SOURCE_CONCURRENCY,
      highPercent: this.ctx.env.OCDN_VOD_DISK_HIGH,
    });
    const seen = new Map(queue.map((t) => [t.id, t.updatedAt]));
    const removed = await removeFromQueue(this.ctx, plan.remove.map((r) => ({ ...r, seenUpdatedAt: seen.get(r.id)! })));
    const created = await insertTasks(this.ctx, plan.create);
    // Tell each VOD server with new tasks at once, so that it does not wait for its next poll.
    const byId = new Map(all.map((n) => [n.id, n]));
    for (const nodeId of new Set(plan.create.map((t) => t.nodeId))) {
      this.ctx.traffic.call(byId.get(nodeId)!, 'vod.tasksChanged', {}, { via: 'socket', timeoutMs: 2000 }).catch(() => {});
    }
    await purgeRemoved(this.ctx, now);
    log.info(
      {
        queued: queue.length - removed + created.length,
        removed: plan.remove.map((r) => `${r.id}:${r.reason}`),
        created: plan.create.map((t) => `${t.file}→${t.nodeId}`),
        ms: Math.round(performance.now() - t0),
      },
      'VOD task manager cycle',
    );
  }
}
