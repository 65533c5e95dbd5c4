import { and, eq, inArray, or } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { GroupCommit } from '../db/group-commit.ts';
import type { Logger } from '../log.ts';
import { domains } from '../db/schema.ts';
import { RpcError } from '../hub/connection.ts';
import { nodeEndpoint } from '../nodes/heart.ts';
import { PermanentStepError, type StepContext, type StepHandler, type StepName } from '../pipelines/types.ts';
import { OCDN_MAKE_CONF, listenFor } from './make-conf.ts';
import { OCDN_DOMAIN_STATUS, domainNodeWriter, otherNodesOf, type DomainNodeStatus, type DomainStatus } from './status.ts';
import { domainNodes, nodes } from '../db/schema.ts';


type DomainRow = typeof domains.$inferSelect;

async function loadDomain(ctx: ManagerContext, domain: string): Promise<DomainRow> {
  const [row] = await ctx.db.select().from(domains).where(eq(domains.domain, domain));
  if (!row) throw new PermanentStepError(`domain ${domain} does not exist`);
  return row;
}

/** The published name of a domain: `<subDomain>.<OCDN_DNS_ZONE>`. */
export function cnameOf(ctx: Pick<ManagerContext, 'env'>, subDomain: string): string {
  return `${subDomain}.${ctx.env.OCDN_DNS_ZONE}`;
}

/** Renders the domain's config for one node (OCDN_MAKE_CONF with the node's listen line). */
export async function configFor(ctx: ManagerContext, domain: string, ip: string, row?: DomainRow): Promise<{ config: string; version: number }> {
  const d = row ?? (await loadDomain(ctx, domain));
  const config = OCDN_MAKE_CONF({
    domain: d.domain,
    cname: cnameOf(ctx, d.subDomain),
    origins: d.origins,
    version: d.configVersion,
    listen: listenFor(ctx.env.OCDN_CDN_LISTEN, ip),
  });
  return { config, version: d.configVersion };
}

interface Publish {
  name: string;
  nodeId: string;
  ip: string;
  requireNormal: boolean;
  log: Logger;
}
interface PublishFailure {
  permanent: boolean;
  message: string;
}

/** Runs DNS changes of one domain one at a time, so that publishing and fail-open withdrawals do not interleave. */
function perKeyMutex() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    tails.set(key, next);
    try {
      return await next;
    } finally {
      if (tails.get(key) === next) tails.delete(key);
    }
  };
}

/** Pipeline step handlers of the domain modules. Each is idempotent: a step may run again after a crash. */
export function domainStepHandlers(ctx: ManagerContext): Partial<Record<StepName, StepHandler>> {
  const str = (v: unknown) => String(v);
  const dnsOf = perKeyMutex();

  /**
   * OCDN_MODIFI_DNS of one domain, batched: a domain's nodes reach this step together, and their publishes share
   * one read, one record write and one turn of the domain's DNS lock.
   */
  const publishers = new Map<string, GroupCommit<Publish, PublishFailure | null>>();
  const publish = async (domain: string, req: Publish): Promise<PublishFailure | null> => {
    let batcher = publishers.get(domain);
    if (!batcher) {
      batcher = new GroupCommit((batch) => dnsOf(domain, () => publishBatch(domain, batch)), (r) => r.nodeId);
      publishers.set(domain, batcher);
    }
    try {
      return await batcher.write(req);
    } finally {
      if (batcher.idle && publishers.get(domain) === batcher) publishers.delete(domain);
    }
  };
  const publishBatch = async (domain: string, batch: Publish[]): Promise<(PublishFailure | null)[]> => {
    const ids = batch.map((r) => r.nodeId);
    // These nodes' state and the addresses kept only because every node was down (fail open), in one read.
    const rows = await ctx.db
      .select({ nodeId: domainNodes.nodeId, ip: nodes.ip, kept: domainNodes.dnsKept, nodeStatus: nodes.status })
      .from(domainNodes)
      .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
      .where(and(eq(domainNodes.domain, domain), or(inArray(domainNodes.nodeId, ids), eq(domainNodes.dnsKept, true))));
    const byNode = new Map(rows.map((r) => [r.nodeId, r]));
    const results: (PublishFailure | null)[] = await Promise.all(
      batch.map(async (r) => {
        const me = byNode.get(r.nodeId);
        // A node that failed since the domain was planned is published by its RECOVER_NODE, not here.
        if (r.requireNormal && me?.nodeStatus !== 'normal') {
          return { permanent: true, message: `node ${r.ip} is ${me?.nodeStatus ?? 'gone'}; it is published when it recovers` };
        }
        try {
          await ctx.dns.provider.upsert(r.name, r.ip);
          return null;
        } catch (err) {
          return { permanent: false, message: (err as Error).message };
        }
      }),
    );
    const published = batch.filter((_, i) => results[i] === null);
    if (published.length === 0) return results;
    const keptHere = published.filter((r) => byNode.get(r.nodeId)?.kept).map((r) => r.nodeId);
    if (keptHere.length) await ctx.db.update(domainNodes).set({ dnsKept: false }).where(and(eq(domainNodes.domain, domain), inArray(domainNodes.nodeId, keptHere)));
    // Kept addresses of other nodes leave now that a node serves again.
    for (const other of rows.filter((r) => r.kept && !ids.includes(r.nodeId))) {
      await ctx.dns.provider.remove(published[0]!.name, other.ip);
      await setKept(domain, other.nodeId, false);
      published[0]!.log.info({ domain, ip: other.ip }, 'withdrew an address kept while every node was down');
    }
    return results;
  };
  const setDomainNode = domainNodeWriter(ctx.db);
  // One read of the domain and of each node per execution of a run: a domain onto fifty nodes is 250 steps.
  const domainOf = (step: StepContext, domain: string) => step.memo(`domain:${domain}`, () => loadDomain(ctx, domain));
  const endpointOf = (step: StepContext, nodeId: string) => step.memo(`node:${nodeId}`, () => nodeEndpoint(ctx, nodeId));
  const setKept = (domain: string, nodeId: string, kept: boolean) =>
    ctx.db.update(domainNodes).set({ dnsKept: kept }).where(and(eq(domainNodes.domain, domain), eq(domainNodes.nodeId, nodeId)));
  return {
    async OCDN_DOMAIN_STATUS(_s, p) {
      await OCDN_DOMAIN_STATUS(ctx, str(p.domain), str(p.status) as DomainStatus);
    },
    async OCDN_DOMAIN_NODE(_s, p) {
      await setDomainNode(str(p.domain), str(p.nodeId), str(p.status) as DomainNodeStatus);
    },
    async OCDN_MAKE_CONF(step, p) {
      // Renders once to refuse a domain whose config cannot be made before any node is touched.
      try {
        await configFor(ctx, str(p.domain), '127.0.0.1', await domainOf(step, str(p.domain)));
      } catch (err) {
        throw new PermanentStepError((err as Error).message);
      }
    },
    async OCDN_SYNC_CONF(step, p) {
      const node = await endpointOf(step, str(p.nodeId));
      const { config, version } = await configFor(ctx, str(p.domain), node.ip, await domainOf(step, str(p.domain)));
      await ctx.traffic.call(node, 'cdn.syncConf', { domain: str(p.domain), version, config });
    },
    async OCDN_NODE_RELOAD(step, p) {
      const node = await endpointOf(step, str(p.nodeId));
      try {
        await ctx.traffic.call(node, 'cdn.reload', { domain: str(p.domain) }, { timeoutMs: 60_000 });
      } catch (err) {
        // nginx refusing the config is not going to change by retrying; the agent has restored the old file.
        if (err instanceof RpcError && err.code === 'command_failed' && /configuration test failed/.test(err.message)) {
          throw new PermanentStepError(err.message);
        }
        throw err;
      }
    },
    async OCDN_VER_CONF(step, p) {
      const node = await endpointOf(step, str(p.nodeId));
      const d = await domainOf(step, str(p.domain));
      const held = await ctx.traffic.call(node, 'cdn.verConf', { domain: d.domain });
      if (held.version !== d.configVersion) {
        throw new Error(`node ${node.ip} holds version ${held.version ?? 'none'} of ${d.domain}, expected ${d.configVersion}`);
      }
    },
    async OCDN_MODIFI_DNS(step, p) {
      const d = await domainOf(step, str(p.domain));
      const failure = await publish(d.domain, { name: cnameOf(ctx, d.subDomain), nodeId: str(p.nodeId), ip: str(p.ip), requireNormal: !!p.requireNormal, log: step.log });
      if (failure) throw failure.permanent ? new PermanentStepError(failure.message) : new Error(failure.message);
    },
    async OCDN_DEL_DNS(step, p) {
      const d = await domainOf(step, str(p.domain));
      await dnsOf(d.domain, async () => {
        if (p.failOpen) {
          const serving = (await otherNodesOf(ctx, d.domain, str(p.nodeId), ['complete'])).filter((o) => o.nodeStatus === 'normal');
          if (serving.length === 0) {
            // Fail open, like Route 53 health checks: with no healthy node left, answering with a dead address
            // beats answering with none. The domain shows failOpen until a node recovers.
            await setKept(d.domain, str(p.nodeId), true);
            step.log.warn({ domain: d.domain, ip: str(p.ip) }, 'every node of the domain is down; keeping its address published');
            return;
          }
        }
        await ctx.dns.provider.remove(cnameOf(ctx, d.subDomain), str(p.ip));
        await setKept(d.domain, str(p.nodeId), false);
      });
    },
    async OCDN_DEL_CONF(step, p) {
      const node = await endpointOf(step, str(p.nodeId));
      try {
        await ctx.traffic.call(node, 'cdn.delConf', { domain: str(p.domain) });
        // Deleting the file alone would leave nginx serving the domain until its next reload.
        await ctx.traffic.call(node, 'cdn.reload', {}, { timeoutMs: 60_000 });
      } catch (err) {
        // A node being removed may be dead; its DNS is withdrawn already, so its files do no harm.
        if (p.bestEffort && err instanceof RpcError && ['not_connected', 'unreachable', 'timeout'].includes(err.code)) {
          step.log.warn({ domain: str(p.domain), ip: node.ip, err: err.message }, 'node unreachable; its config is left behind');
          return;
        }
        throw err;
      }
    },
  };
}
