import { and, eq } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { domains } from '../db/schema.ts';
import { RpcError } from '../hub/connection.ts';
import { nodeEndpoint } from '../nodes/heart.ts';
import { PermanentStepError, type StepHandler, type StepName } from '../pipelines/types.ts';
import { OCDN_MAKE_CONF, listenFor } from './make-conf.ts';
import { OCDN_DOMAIN_NODE, OCDN_DOMAIN_STATUS, otherNodesOf, type DomainNodeStatus, type DomainStatus } from './status.ts';
import { domainNodes, nodes } from '../db/schema.ts';


async function loadDomain(ctx: ManagerContext, domain: string) {
  const [row] = await ctx.db.select().from(domains).where(eq(domains.domain, domain));
  if (!row) throw new PermanentStepError(`domain ${domain} does not exist`);
  return row;
}

/** The published name of a domain: `<subDomain>.<OCDN_DNS_ZONE>`. */
export function cnameOf(ctx: Pick<ManagerContext, 'env'>, subDomain: string): string {
  return `${subDomain}.${ctx.env.OCDN_DNS_ZONE}`;
}

/** Renders the domain's config for one node (OCDN_MAKE_CONF with the node's listen line). */
export async function configFor(ctx: ManagerContext, domain: string, ip: string): Promise<{ config: string; version: number }> {
  const d = await loadDomain(ctx, domain);
  const config = OCDN_MAKE_CONF({
    domain: d.domain,
    cname: cnameOf(ctx, d.subDomain),
    origins: d.origins,
    version: d.configVersion,
    listen: listenFor(ctx.env.OCDN_CDN_LISTEN, ip),
  });
  return { config, version: d.configVersion };
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
  const setKept = (domain: string, nodeId: string, kept: boolean) =>
    ctx.db.update(domainNodes).set({ dnsKept: kept }).where(and(eq(domainNodes.domain, domain), eq(domainNodes.nodeId, nodeId)));
  return {
    async OCDN_DOMAIN_STATUS(_s, p) {
      await OCDN_DOMAIN_STATUS(ctx, str(p.domain), str(p.status) as DomainStatus);
    },
    async OCDN_DOMAIN_NODE(_s, p) {
      await OCDN_DOMAIN_NODE(ctx, str(p.domain), str(p.nodeId), str(p.status) as DomainNodeStatus);
    },
    async OCDN_MAKE_CONF(_s, p) {
      // Renders once to refuse a domain whose config cannot be made before any node is touched.
      try {
        await configFor(ctx, str(p.domain), '127.0.0.1');
      } catch (err) {
        throw new PermanentStepError((err as Error).message);
      }
    },
    async OCDN_SYNC_CONF(_s, p) {
      const node = await nodeEndpoint(ctx, str(p.nodeId));
      const { config, version } = await configFor(ctx, str(p.domain), node.ip);
      await ctx.traffic.call(node, 'cdn.syncConf', { domain: str(p.domain), version, config });
    },
    async OCDN_NODE_RELOAD(_s, p) {
      const node = await nodeEndpoint(ctx, str(p.nodeId));
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
    async OCDN_VER_CONF(_s, p) {
      const node = await nodeEndpoint(ctx, str(p.nodeId));
      const d = await loadDomain(ctx, str(p.domain));
      const held = await ctx.traffic.call(node, 'cdn.verConf', { domain: d.domain });
      if (held.version !== d.configVersion) {
        throw new Error(`node ${node.ip} holds version ${held.version ?? 'none'} of ${d.domain}, expected ${d.configVersion}`);
      }
    },
    async OCDN_MODIFI_DNS(step, p) {
      const d = await loadDomain(ctx, str(p.domain));
      const name = cnameOf(ctx, d.subDomain);
      if (p.requireNormal) {
        // A node that failed since the domain was planned is published by its RECOVER_NODE, not here.
        const [n] = await ctx.db.select({ status: nodes.status }).from(nodes).where(eq(nodes.id, str(p.nodeId)));
        if (n?.status !== 'normal') throw new PermanentStepError(`node ${str(p.ip)} is ${n?.status ?? 'gone'}; it is published when it recovers`);
      }
      await dnsOf(d.domain, async () => {
        await ctx.dns.provider.upsert(name, str(p.ip));
        await setKept(d.domain, str(p.nodeId), false);
        // Addresses kept only because every node was down (fail open) leave now that a node serves again.
        const kept = await ctx.db
          .select({ nodeId: domainNodes.nodeId, ip: nodes.ip })
          .from(domainNodes)
          .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
          .where(and(eq(domainNodes.domain, d.domain), eq(domainNodes.dnsKept, true)));
        for (const other of kept) {
          await ctx.dns.provider.remove(name, other.ip);
          await setKept(d.domain, other.nodeId, false);
          step.log.info({ domain: d.domain, ip: other.ip }, 'withdrew an address kept while every node was down');
        }
      });
    },
    async OCDN_DEL_DNS(step, p) {
      const d = await loadDomain(ctx, str(p.domain));
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
      const node = await nodeEndpoint(ctx, str(p.nodeId));
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
