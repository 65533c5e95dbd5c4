import { and, eq, inArray } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import type { ManagerContext } from '../context.ts';
import { domainNodes, domains, nodes } from '../db/schema.ts';
import type { AgentConnection } from '../hub/connection.ts';
import { configFor } from './steps.ts';

const PERIOD_MS = 5 * 60_000;

/**
 * Drift repair: desired state lives in the database; an agent reports what it holds. Whenever an agent connects,
 * and every few minutes, configs it lacks or holds with another hash are synced again and configs of domains no
 * longer on the node are deleted, then nginx is reloaded once — without an operator, and without relying on a
 * push having arrived. Domains in the middle of a pipeline are left to their pipeline.
 */
export class DriftRepair {
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<string>();
  private stopped = false;
  private readonly onConnect = (conn: AgentConnection) => {
    // Let a RECOVER_NODE or ADD_NODE started by the same connection go first; repair is idempotent anyway.
    setTimeout(() => void this.afterConnect(conn.nodeId), 1_000).unref();
  };

  constructor(private readonly ctx: ManagerContext) {}

  start(): void {
    this.ctx.hub.on('connected', this.onConnect);
    this.timer = setInterval(() => {
      for (const conn of this.ctx.hub.connections()) void this.repair(conn.nodeId);
    }, PERIOD_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.ctx.hub.off('connected', this.onConnect);
  }

  /**
   * Repairs a node that connected. A node still `fault` (its agent died and came back: the close made it faulty at
   * once) is repaired when its RECOVER_NODE has made it normal again (`recovered`), on whichever replica ran it:
   * thousands of agents coming back at once are not each looked at every few seconds meanwhile.
   */
  private async afterConnect(nodeId: string): Promise<void> {
    if (this.stopped) return;
    const [node] = await this.ctx.db.select({ status: nodes.status }).from(nodes).where(eq(nodes.id, nodeId)).catch(() => []);
    if (node?.status === 'fault') return;
    await this.repair(nodeId);
  }

  /** The node's RECOVER_NODE succeeded here: it is normal again, with whatever its agent holds now. */
  recovered(nodeId: string): void {
    if (!this.stopped) void this.repair(nodeId);
  }

  /** Repairs one node; returns what it changed (for tests and logs). Never throws. */
  async repair(nodeId: string): Promise<{ synced: string[]; deleted: string[] } | null> {
    if (this.running.has(nodeId)) return null;
    this.running.add(nodeId);
    const log = this.ctx.log.child({ nodeId, component: 'drift' });
    try {
      const [node] = await this.ctx.db.select().from(nodes).where(eq(nodes.id, nodeId));
      if (!node || node.status !== 'normal' || !node.roles.includes('cdn')) return null;
      const endpoint = { id: node.id, ip: node.ip, agentPort: node.agentPort, token: node.token, tls: node.tls };
      const held = (await this.ctx.traffic.call(endpoint, 'cdn.listConf', {})).items;
      const rows = await this.ctx.db
        .select({ domain: domainNodes.domain, status: domainNodes.status, domainStatus: domains.status })
        .from(domainNodes)
        .innerJoin(domains, eq(domains.domain, domainNodes.domain))
        .where(and(eq(domainNodes.nodeId, nodeId), inArray(domainNodes.status, ['new', 'complete', 'fault'])));
      const onNode = new Set(rows.map((r) => r.domain));
      const heldBy = new Map(held.map((h) => [h.domain, h]));
      const synced: string[] = [];
      const deleted: string[] = [];
      for (const r of rows) {
        if (r.status !== 'complete' || r.domainStatus !== 'complete') continue; // a pipeline is at work
        const { config, version } = await configFor(this.ctx, r.domain, node.ip);
        const hash = createHash('sha256').update(config, 'utf8').digest('hex');
        if (heldBy.get(r.domain)?.hash === hash) continue;
        await this.ctx.traffic.call(endpoint, 'cdn.syncConf', { domain: r.domain, version, config });
        synced.push(r.domain);
      }
      for (const h of held) {
        if (onNode.has(h.domain)) continue;
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
    } finally {
      this.running.delete(nodeId);
    }
  }
}
