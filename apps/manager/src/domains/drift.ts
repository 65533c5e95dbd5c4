import { and, eq, inArray } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import type { ManagerContext } from '../context.ts';
import { domainNodes, domains, nodes } from '../db/schema.ts';
import type { AgentConnection } from '../hub/connection.ts';
import { renderConfig } from './steps.ts';

const PERIOD_MS = 5 * 60_000;

/** Nodes looked at per statement, and nodes repaired at once (each is an RPC or a few to its agent). */
const READ_BATCH = 1_000;
const REPAIR_CONCURRENCY = 32;

type NodeRow = typeof nodes.$inferSelect;
type DomainRow = typeof domains.$inferSelect;
type Placement = { nodeId: string; status: string; domain: DomainRow };

/**
 * Drift repair: desired state lives in the database; an agent reports what it holds. Whenever an agent connects,
 * and every few minutes, configs it lacks or holds with another hash are synced again and configs of domains no
 * longer on the node are deleted, then nginx is reloaded once — without an operator, and without relying on a
 * push having arrived. Domains in the middle of a pipeline are left to their pipeline.
 *
 * Nodes are looked at in batches: two statements read the nodes and their domains for up to a thousand of them (a
 * manager restart brings thousands of agents back within seconds, and the periodic pass looks at every node);
 * what an agent holds is asked node by node, and a node found to have drifted is read again before anything on it
 * changes (see repairNode).
 */
export class DriftRepair {
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<string>();
  private stopped = false;
  /** Nodes that connected since the last batch was taken, and the timer that takes it. */
  private connected = new Set<string>();
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly onConnect = (conn: AgentConnection) => {
    // Let a RECOVER_NODE or ADD_NODE started by the same connection go first (a second or so); repair is idempotent.
    this.connected.add(conn.nodeId);
    this.connectTimer ??= setTimeout(() => {
      this.connectTimer = undefined;
      const ids = [...this.connected];
      this.connected = new Set();
      void this.repairMany(ids);
    }, 1_000).unref();
  };

  constructor(private readonly ctx: ManagerContext) {}

  start(): void {
    this.ctx.hub.on('connected', this.onConnect);
    this.timer = setInterval(() => void this.repairMany([...this.ctx.hub.connections()].map((c) => c.nodeId)), PERIOD_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.connectTimer);
    this.ctx.hub.off('connected', this.onConnect);
  }

  /**
   * The node's RECOVER_NODE succeeded here: it is normal again, with whatever its agent holds now. (A node that
   * connected while still `fault` — its agent died and came back, the close made it faulty at once — is skipped by
   * the repair on connect and repaired here, on whichever replica ran the recovery: thousands of agents coming back
   * at once are not each looked at every few seconds meanwhile.)
   */
  recovered(nodeId: string): void {
    if (!this.stopped) void this.repair(nodeId);
  }

  /** Repairs one node; returns what it changed (for tests and logs), null when it was not looked at. Never throws. */
  async repair(nodeId: string): Promise<{ synced: string[]; deleted: string[] } | null> {
    return (await this.repairMany([nodeId])).get(nodeId) ?? null;
  }

  /**
   * Repairs the `normal` cdn nodes among `nodeIds` (others, and nodes being repaired already, are skipped). Returns
   * what changed per node repaired. Never throws: a node whose repair fails is tried again at the next pass.
   */
  async repairMany(nodeIds: string[]): Promise<Map<string, { synced: string[]; deleted: string[] }>> {
    const done = new Map<string, { synced: string[]; deleted: string[] }>();
    const ids = nodeIds.filter((id) => !this.running.has(id));
    for (const id of ids) this.running.add(id);
    try {
      for (let i = 0; i < ids.length && !this.stopped; i += READ_BATCH) {
        const some = ids.slice(i, i + READ_BATCH);
        let todo: NodeRow[];
        let placements: Placement[];
        try {
          todo = (await this.ctx.db.select().from(nodes).where(inArray(nodes.id, some))).filter((n) => n.status === 'normal' && n.roles.includes('cdn'));
          placements = todo.length ? await this.placementsOf(todo.map((n) => n.id)) : [];
        } catch (err) {
          this.ctx.log.warn({ component: 'drift', nodes: some.length, err: (err as Error).message }, 'drift repair failed; trying again later');
          continue;
        }
        const byNode = new Map<string, Placement[]>();
        for (const p of placements) {
          const list = byNode.get(p.nodeId);
          if (list) list.push(p);
          else byNode.set(p.nodeId, [p]);
        }
        let next = 0;
        const worker = async () => {
          while (next < todo.length && !this.stopped) {
            const node = todo[next++]!;
            const changed = await this.repairNode(node, byNode.get(node.id) ?? []);
            if (changed) done.set(node.id, changed);
          }
        };
        await Promise.all(Array.from({ length: Math.min(REPAIR_CONCURRENCY, todo.length) }, worker));
      }
    } finally {
      for (const id of ids) this.running.delete(id);
    }
    return done;
  }

  /**
   * Brings one node's configs to what its domains say. `placements` (read for the whole batch, maybe seconds ago)
   * only say where to look: what the agent holds is asked first, and a config is synced or deleted only after the
   * node's domains are read again — a pipeline may have started meanwhile, or brought a new domain to the node. In
   * the common case, nothing to repair, that costs no statement. Never throws.
   */
  private async repairNode(node: NodeRow, placements: Placement[]): Promise<{ synced: string[]; deleted: string[] } | null> {
    const log = this.ctx.log.child({ nodeId: node.id, component: 'drift' });
    try {
      const endpoint = { id: node.id, ip: node.ip, agentPort: node.agentPort, token: node.token, tls: node.tls };
      const held = (await this.ctx.traffic.call(endpoint, 'cdn.listConf', {})).items;
      const heldBy = new Map(held.map((h) => [h.domain, h]));
      const looked = new Set(placements.map((p) => p.domain.domain));
      const suspects = placements.filter((p) => p.status === 'complete' && p.domain.status === 'complete' && heldBy.get(p.domain.domain)?.hash !== this.render(node, p.domain).hash);
      const strays = held.filter((h) => !looked.has(h.domain));
      if (suspects.length === 0 && strays.length === 0) return { synced: [], deleted: [] };
      const now = new Map((await this.placementsOf([node.id])).map((p) => [p.domain.domain, p]));
      const synced: string[] = [];
      const deleted: string[] = [];
      for (const { domain } of suspects) {
        const p = now.get(domain.domain);
        if (p?.status !== 'complete' || p.domain.status !== 'complete') continue; // a pipeline is at work now
        const { config, version, hash } = this.render(node, p.domain);
        if (heldBy.get(p.domain.domain)?.hash === hash) continue;
        await this.ctx.traffic.call(endpoint, 'cdn.syncConf', { domain: p.domain.domain, version, config });
        synced.push(p.domain.domain);
      }
      for (const h of strays) {
        if (now.has(h.domain)) continue; // brought to the node since the batch was read
        await this.ctx.traffic.call(endpoint, 'cdn.delConf', { domain: h.domain });
        deleted.push(h.domain);
      }
      if (synced.length || deleted.length) {
        await this.ctx.traffic.call(endpoint, 'cdn.reload', {}, { timeoutMs: 60_000 });
        log.info({ synced, deleted }, 'drift repaired');
      }
      return { synced, deleted };
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'drift repair failed; trying again later');
      return null;
    }
  }

  /** The domains placed on nodes (not deleted from them), with the domain rows. */
  private placementsOf(ids: string[]): Promise<Placement[]> {
    return this.ctx.db
      .select({ nodeId: domainNodes.nodeId, status: domainNodes.status, domain: domains })
      .from(domainNodes)
      .innerJoin(domains, eq(domains.domain, domainNodes.domain))
      .where(and(inArray(domainNodes.nodeId, ids), inArray(domainNodes.status, ['new', 'complete', 'fault'])));
  }

  private render(node: NodeRow, domain: DomainRow): { config: string; version: number; hash: string } {
    const { config, version } = renderConfig(this.ctx, domain, node.ip);
    return { config, version, hash: createHash('sha256').update(config, 'utf8').digest('hex') };
  }
}
