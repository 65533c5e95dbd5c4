import { eq } from 'drizzle-orm';
import type { CoreContext, ManagerContext } from '../context.ts';
import { rawRows } from '../db/raw.ts';
import { domains, nodes } from '../db/schema.ts';
import { DomainDns, OCDN_DEL_DNS, OCDN_MODIFI_DNS } from '../dns/publish.ts';
import { RpcError } from '../hub/connection.ts';
import { nodeEndpoint } from '../nodes/heart.ts';
import { PermanentStepError, type HandOver, type PipelineKind, type StepContext, type StepHandlers } from '../pipelines/types.ts';
import { OCDN_MAKE_CONF, listenFor } from './make-conf.ts';
import { DomainNodeWrites, OCDN_DOMAIN_NODE, OCDN_DOMAIN_STATUS } from './status.ts';

type DomainStepName = Exclude<keyof StepHandlers, 'OCDN_NODE_HEART' | 'OCDN_NODE_STATUS'>;

/** What the steps use of a domain's row. */
type DomainRow = Pick<typeof domains.$inferSelect, 'domain' | 'subDomain' | 'origins' | 'configVersion'>;

/** Read once per execution of a run (three times per domain in a rollout): written out (db/raw.ts). */
async function loadDomain(ctx: CoreContext, domain: string): Promise<DomainRow> {
  const [row] = await rawRows<DomainRow>(ctx.db, 'select domain, sub_domain as "subDomain", origins, config_version as "configVersion" from domains where domain = $1', [domain]);
  if (!row) throw new PermanentStepError(`domain ${domain} does not exist`);
  return row;
}

/** The published name of a domain: `<subDomain>.<OCDN_DNS_ZONE>`. */
export function cnameOf(ctx: Pick<ManagerContext, 'env'>, subDomain: string): string {
  return `${subDomain}.${ctx.env.OCDN_DNS_ZONE}`;
}

/** Renders a domain's config for one node (OCDN_MAKE_CONF with the node's listen line). */
export function renderConfig(ctx: Pick<CoreContext, 'env'>, d: DomainRow, ip: string): { config: string; version: number } {
  const config = OCDN_MAKE_CONF({
    domain: d.domain,
    cname: cnameOf(ctx, d.subDomain),
    origins: d.origins,
    version: d.configVersion,
    listen: listenFor(ctx.env.OCDN_CDN_LISTEN, ip),
  });
  return { config, version: d.configVersion };
}

/** renderConfig of the domain's row, read unless given. */
export async function configFor(ctx: CoreContext, domain: string, ip: string, row?: DomainRow): Promise<{ config: string; version: number }> {
  return renderConfig(ctx, row ?? (await loadDomain(ctx, domain)), ip);
}

/** The step handlers of the domain and DNS modules. Each is idempotent: a step may run again after a crash. */
export function domainStepHandlers(ctx: CoreContext): Pick<StepHandlers, DomainStepName> {
  const dns = new DomainDns(ctx);
  // The engine's bookkeeping of a domain's state: commits that do not wait for the flush (Database.bulk).
  const domainNodes = new DomainNodeWrites(ctx.database.bulk);
  // One read of the domain and of each node per execution of a run: a domain onto fifty nodes is 250 steps.
  const domainOf = (step: StepContext, domain: string) => step.memo(`domain:${domain}`, () => loadDomain(ctx, domain));
  const endpointOf = (step: StepContext, nodeId: string) => step.memo(`node:${nodeId}`, () => nodeEndpoint(ctx, nodeId));
  // The step's logger is made only if used (StepContext.log): the address is handed on as it is, never spread (a
  // spread calls the getter, and a child logger per DNS step was most of what making the address cost).
  const address = async <E extends object>(step: StepContext, p: { domain: string; nodeId: string; ip: string }, extra: E) => {
    const d = await domainOf(step, p.domain);
    return {
      domain: d.domain,
      name: cnameOf(ctx, d.subDomain),
      nodeId: p.nodeId,
      ip: p.ip,
      ...extra,
      get log() {
        return step.log;
      },
    };
  };
  return {
    async OCDN_DOMAIN_STATUS(_s, p) {
      await OCDN_DOMAIN_STATUS(ctx, p.domain, p.status, { nodes: false }); // the run's steps name its nodes
    },
    async OCDN_DOMAIN_NODE(step, p) {
      if ((await OCDN_DOMAIN_NODE(domainNodes, p.domain, p.nodeId, p.status, p.requireNormal)) === 'kept') {
        step.log.info({ domain: p.domain, ip: p.ip, status: p.status }, "domain's status on the node left as it is (the node's own runs set it)");
      }
    },
    async OCDN_MAKE_CONF(step, p) {
      // Renders once to refuse a domain whose config cannot be made before any node is touched. Only the rendering
      // is the domain's fault: a failed read (the database away) is retried like any other.
      const row = await domainOf(step, p.domain);
      try {
        await configFor(ctx, p.domain, '127.0.0.1', row);
      } catch (err) {
        throw new PermanentStepError((err as Error).message, { cause: err });
      }
    },
    async OCDN_SYNC_CONF(step, p) {
      const node = await endpointOf(step, p.nodeId);
      const { config, version } = await configFor(ctx, p.domain, node.ip, await domainOf(step, p.domain));
      await ctx.traffic.call(node, 'cdn.syncConf', { domain: p.domain, version, config });
    },
    async OCDN_NODE_RELOAD(step, p) {
      const node = await endpointOf(step, p.nodeId);
      try {
        await ctx.traffic.call(node, 'cdn.reload', { domain: p.domain }, { timeoutMs: 60_000 });
      } catch (err) {
        // nginx refusing the config is not going to change by retrying; the agent has restored the old file.
        if (err instanceof RpcError && err.code === 'command_failed' && /configuration test failed/.test(err.message)) {
          throw new PermanentStepError(err.message);
        }
        throw err;
      }
    },
    async OCDN_VER_CONF(step, p) {
      const node = await endpointOf(step, p.nodeId);
      const d = await domainOf(step, p.domain);
      const held = await ctx.traffic.call(node, 'cdn.verConf', { domain: d.domain });
      if (held.version !== d.configVersion) {
        throw new Error(`node ${node.ip} holds version ${held.version ?? 'none'} of ${d.domain}, expected ${d.configVersion}`);
      }
    },
    async OCDN_MODIFI_DNS(step, p) {
      await OCDN_MODIFI_DNS(dns, await address(step, p, { requireNormal: p.requireNormal }));
    },
    async OCDN_DEL_DNS(step, p) {
      await OCDN_DEL_DNS(dns, await address(step, p, { failOpen: p.failOpen }));
    },
    async OCDN_DEL_CONF(step, p) {
      const node = await endpointOf(step, p.nodeId);
      try {
        await ctx.traffic.call(node, 'cdn.delConf', { domain: p.domain });
        // Deleting the file alone would leave nginx serving the domain until its next reload.
        await ctx.traffic.call(node, 'cdn.reload', {}, { timeoutMs: 60_000 });
      } catch (err) {
        // A node being removed may be dead; its DNS is withdrawn already, so its files do no harm.
        if (p.bestEffort && err instanceof RpcError && ['not_connected', 'unreachable', 'timeout'].includes(err.code)) {
          step.log.warn({ domain: p.domain, ip: node.ip, err: err.message }, 'node unreachable; its config is left behind');
          return;
        }
        throw err;
      }
    },
  };
}

/** Runs that bring a domain to nodes: what they do on a node, that node's RECOVER_NODE does too. */
const BRING_DOMAIN: ReadonlySet<PipelineKind> = new Set(['ADD_DOMAIN', 'JOIN_NODE', 'UPDATE_DOMAIN']);

/**
 * The engine's HandOver for steps on a node that became `fault` meanwhile, instead of retrying against a dead agent
 * for minutes and then failing the domain for one node of many:
 * - a run that brings a domain to nodes leaves the rest of that node's steps to its recovery (RECOVER_NODE syncs,
 *   verifies and publishes every domain of the node);
 * - REMOVE_DOMAIN leaves the deletion of the node's copy of the config to drift repair, which deletes the configs of
 *   domains no longer on a node once it has recovered, and goes on (the address left DNS without the agent).
 */
export function handOver(ctx: Pick<CoreContext, 'db'>): HandOver {
  return {
    async reason(run, step) {
      const nodeId = step.params.nodeId;
      const bring = BRING_DOMAIN.has(run.kind);
      if (!(bring || (run.kind === 'REMOVE_DOMAIN' && step.name === 'OCDN_DEL_CONF')) || typeof nodeId !== 'string') return null;
      const [node] = await ctx.db.select({ ip: nodes.ip, status: nodes.status }).from(nodes).where(eq(nodes.id, nodeId));
      if (node?.status !== 'fault') return null;
      return bring
        ? `node ${node.ip} is fault: its recovery (RECOVER_NODE) brings ${run.subject} to it`
        : `node ${node.ip} is fault: its copy of ${run.subject}'s config is deleted once it has recovered (drift repair)`;
    },
    skipsRest: (kind) => BRING_DOMAIN.has(kind),
  };
}
