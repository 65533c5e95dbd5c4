import { eq } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { domains } from '../db/schema.ts';
import { RpcError } from '../hub/connection.ts';
import { nodeEndpoint } from '../nodes/heart.ts';
import { PermanentStepError, type StepHandler, type StepName } from '../pipelines/types.ts';
import { OCDN_MAKE_CONF, listenFor } from './make-conf.ts';
import { OCDN_DOMAIN_NODE, OCDN_DOMAIN_STATUS, type DomainNodeStatus, type DomainStatus } from './status.ts';


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

/** Pipeline step handlers of the domain modules. Each is idempotent: a step may run again after a crash. */
export function domainStepHandlers(ctx: ManagerContext): Partial<Record<StepName, StepHandler>> {
  const str = (v: unknown) => String(v);
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
    async OCDN_MODIFI_DNS(_s, p) {
      const d = await loadDomain(ctx, str(p.domain));
      await ctx.dns.provider.upsert(cnameOf(ctx, d.subDomain), str(p.ip));
    },
    async OCDN_DEL_DNS(_s, p) {
      const d = await loadDomain(ctx, str(p.domain));
      await ctx.dns.provider.remove(cnameOf(ctx, d.subDomain), str(p.ip));
    },
    async OCDN_DEL_CONF(_s, p) {
      const node = await nodeEndpoint(ctx, str(p.nodeId));
      await ctx.traffic.call(node, 'cdn.delConf', { domain: str(p.domain) });
      // Deleting the file alone would leave nginx serving the domain until its next reload.
      await ctx.traffic.call(node, 'cdn.reload', {}, { timeoutMs: 60_000 });
    },
  };
}
