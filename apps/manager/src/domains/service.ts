import { and, asc, eq, inArray, ne, sql } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { anyOfIdsAt, rawRows, rawStatement } from '../db/raw.ts';
import { domainNodes, domains, nodes, pipelines } from '../db/schema.ts';
import { ServiceError, invalidField } from '../errors.ts';
import { ADD_DOMAIN, JOIN_NODE, REMOVE_DOMAIN, UPDATE_DOMAIN } from '../pipelines/definitions.ts';
import { queuedView, type PipelineView } from '../pipelines/service.ts';
import { parseOrigin } from './make-conf.ts';
import type { DomainNodeStatus, DomainStatus } from './status.ts';
import { cnameOf } from './steps.ts';
import { after, decodeCursor, pageOfRows, PAGE_MAX, type Page, type PageRequest } from '../http/pages.ts';

export interface DomainView {
  domain: string;
  origins: string[];
  subDomain: string;
  cname: string;
  status: DomainStatus;
  configVersion: number;
  nodes: { nodeId: string; ip: string; status: DomainNodeStatus }[];
  /** Every node of the domain is down and its addresses stay published anyway (fail open). */
  failOpen: boolean;
}

export interface CreateDomainInput {
  domain: string;
  origins: string[];
  subDomain?: string | undefined;
  nodeIds?: string[] | undefined;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const bad = invalidField;

/** Checks the origins: plain http(s)://host[:port], one scheme for all, no duplicates. Returns them normalised. */
/**
 * Origins are stored as given, lower-cased (the one canonical form), once each is a strict `http(s)://host[:port]`:
 * a string the parser would have to repair is refused, naming the field. `http://x` and `http://x:80` are the same
 * origin (a duplicate).
 */
function checkOrigins(origins: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let scheme: string | undefined;
  origins.forEach((given, i) => {
    const o = given.toLowerCase();
    let parsed;
    try {
      parsed = parseOrigin(o);
    } catch (err) {
      throw bad(`origins.${i}`, (err as Error).message);
    }
    if (scheme && parsed.scheme !== scheme) throw bad(`origins.${i}`, 'all origins of a domain must use the same scheme');
    scheme = parsed.scheme;
    const key = `${parsed.scheme}://${parsed.host}:${parsed.port}`;
    if (seen.has(key)) throw bad(`origins.${i}`, `duplicate origin ${given}`);
    seen.add(key);
    out.push(o);
  });
  return out;
}

type DomainRow = typeof domains.$inferSelect;

async function viewOf(ctx: ManagerContext, row: DomainRow): Promise<DomainView> {
  return (await viewsOf(ctx, [row]))[0]!;
}

/** Domains as the API shows them: their nodes read in one query for all of them. */
async function viewsOf(ctx: ManagerContext, rows: DomainRow[]): Promise<DomainView[]> {
  if (rows.length === 0) return [];
  const all = await ctx.db
    .select({ domain: domainNodes.domain, nodeId: domainNodes.nodeId, ip: nodes.ip, status: domainNodes.status })
    .from(domainNodes)
    .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
    .where(inArray(domainNodes.domain, rows.map((r) => r.domain)))
    .orderBy(asc(nodes.ip));
  const byDomain = new Map<string, DomainView['nodes']>();
  for (const { domain, ...n } of all) {
    const list = byDomain.get(domain);
    if (list) list.push(n);
    else byDomain.set(domain, [n]);
  }
  return Promise.all(rows.map((row) => viewWith(ctx, row, byDomain.get(row.domain) ?? [])));
}

/** A domain as the API shows it, given its nodes in the order the API shows them (by ip). */
async function viewWith(ctx: ManagerContext, row: Pick<DomainRow, 'domain' | 'origins' | 'subDomain' | 'status' | 'configVersion'>, onNodes: DomainView['nodes']): Promise<DomainView> {
  const cname = cnameOf(ctx, row.subDomain);
  const serving = onNodes.some((n) => n.status === 'complete');
  // Only a domain that serves from no node can be failing open (its address left published): asked for those only.
  const failOpen = (row.status === 'complete' || row.status === 'normal') && onNodes.length > 0 && !serving && (await ctx.dns.store.addressesOf(cname)).length > 0;
  return {
    failOpen,
    domain: row.domain,
    origins: row.origins,
    subDomain: row.subDomain,
    cname,
    status: row.status,
    configVersion: row.configVersion,
    nodes: onNodes,
  };
}

/** Creates a domain on its nodes and starts ADD_DOMAIN. */
export async function createDomain(ctx: ManagerContext, input: CreateDomainInput): Promise<{ domain: DomainView; pipeline: PipelineView }> {
  const origins = checkOrigins(input.origins);
  // A given subDomain was validated by its schema (Label); one derived from the domain may still be too long.
  const subDomain = input.subDomain ?? input.domain.replaceAll('.', '-');
  if (input.subDomain === undefined && !LABEL.test(subDomain)) {
    throw bad('subDomain', `"${subDomain}" (derived from the domain) is not a DNS label; give a subDomain`);
  }
  // Every statement of a POST is written out (db/raw.ts): drizzle's building cost ~2.5 ms of the manager's thread per
  // domain in a rollout, more than the statements themselves.
  const { run, shown } = await ctx.db.transaction(async (tx) => {
    const [existing] = await rawRows<{ status: DomainStatus }>(tx, 'select status from domains where domain = $1 for update', [input.domain]);
    if (existing && existing.status !== 'delete') {
      throw new ServiceError('conflict', `domain ${input.domain} exists already${existing.status === 'deleting' ? ' (being deleted)' : ''}`, { field: 'domain', status: existing.status });
    }
    const [clash] = await rawRows<{ domain: string }>(tx, "select domain from domains where sub_domain = $1 and status <> 'delete'", [subDomain]);
    if (clash) throw new ServiceError('conflict', `subDomain ${subDomain} is used by ${clash.domain}`, { field: 'subDomain', domain: clash.domain });

    // `chosen` in the order the steps go (as given), `shown` in the order the API lists a domain's nodes (by ip).
    let chosen: { id: string; ip: string }[];
    let shown: { id: string; ip: string }[];
    if (input.nodeIds) {
      const ids = [...new Set(input.nodeIds)];
      // What placing the domain needs, not whole rows, and the ids as one parameter (anyOfIds).
      const rows = ids.length
        ? await rawRows<{ id: string; ip: string; roles: string[]; status: string }>(
            tx,
            `select id, ip, roles, status from nodes where id = ${anyOfIdsAt(1)} order by ip`,
            [JSON.stringify(ids)],
          )
        : [];
      const byId = new Map(rows.map((r) => [r.id, r]));
      ids.forEach((id, i) => {
        const n = byId.get(id);
        if (!n || n.status === 'delete') throw bad(`nodeIds.${i}`, `node ${id} does not exist`);
        if (!n.roles.includes('cdn')) throw bad(`nodeIds.${i}`, `node ${id} does not have the cdn role`);
        if (n.status !== 'normal') throw new ServiceError('conflict', `node ${id} is ${n.status}, not normal`, { field: `nodeIds.${i}`, nodeId: id, status: n.status });
      });
      chosen = ids.map((id) => byId.get(id)!);
      shown = rows;
    } else {
      // What placing the domain needs, not whole rows: every POST reads the fleet's normal nodes.
      const rows = await rawRows<{ id: string; ip: string; roles: string[] }>(tx, "select id, ip, roles from nodes where status = 'normal' order by ip", []);
      chosen = rows.filter((r) => r.roles.includes('cdn'));
      shown = chosen;
    }
    if (chosen.length === 0) throw new ServiceError('conflict', 'there is no normal cdn node to put the domain on', { field: 'nodeIds' });

    if (existing) await rawStatement(tx, 'delete from domains where domain = $1', [input.domain]); // a deleted domain added again
    await rawStatement(
      tx,
      "insert into domains (domain, sub_domain, origins, status, config_version) values ($1, $2, $3::jsonb, 'normal', 1)",
      [input.domain, subDomain, JSON.stringify(origins)],
    );
    // One parameter for all of the domain's nodes.
    await rawStatement(
      tx,
      "insert into domain_nodes (domain, node_id, status) select $1, id, 'new' from jsonb_array_elements_text($2::jsonb) as id",
      [input.domain, JSON.stringify(chosen.map((n) => n.id))],
    );
    const run = await ctx.engine.queue(tx, ADD_DOMAIN({ domain: input.domain, nodes: chosen.map((n) => ({ id: n.id, ip: n.ip })) }));
    return { run, shown };
  });
  await ctx.engine.dispatch(run.id, run.spec);
  ctx.log.info({ domain: input.domain, pipelineId: run.id }, 'domain added');
  // What was just written, as a read would find it: the domain and its run are not read back (a run's 250 steps
  // for a domain on 50 nodes).
  const row = { domain: input.domain, subDomain, origins, status: 'normal' as const, configVersion: 1 };
  const domain = await viewWith(ctx, row, shown.map((n) => ({ nodeId: n.id, ip: n.ip, status: 'new' as const })));
  return { domain, pipeline: queuedView(run) };
}

/** A page of domains in name order. */
export async function listDomains(ctx: ManagerContext, q: PageRequest = { limit: PAGE_MAX }): Promise<Page<DomainView>> {
  const rows = await ctx.db
    .select()
    .from(domains)
    .where(q.cursor ? after([domains.domain], decodeCursor(q.cursor, 1)) : undefined)
    .orderBy(asc(domains.domain))
    .limit(q.limit + 1);
  const page = pageOfRows(rows, q.limit, (r) => [r.domain]);
  return { items: await viewsOf(ctx, page.rows), nextCursor: page.nextCursor };
}

export async function getDomain(ctx: ManagerContext, domain: string): Promise<DomainView> {
  const [row] = await ctx.db.select().from(domains).where(eq(domains.domain, domain));
  if (!row) throw new ServiceError('not_found', `domain ${domain} not found`);
  return viewOf(ctx, row);
}

/** Starts REMOVE_DOMAIN: withdraws the domain from DNS, then deletes its configs. */
export async function deleteDomain(ctx: ManagerContext, domain: string): Promise<{ pipeline: PipelineView }> {
  const run = await ctx.db.transaction(async (tx) => {
    const [row] = await tx.select().from(domains).where(eq(domains.domain, domain)).for('update');
    if (!row || row.status === 'delete') throw new ServiceError('not_found', `domain ${domain} not found`);
    const [removal] = await tx
      .select({ id: pipelines.id })
      .from(pipelines)
      .where(and(eq(pipelines.subject, domain), eq(pipelines.kind, 'REMOVE_DOMAIN'), inArray(pipelines.status, ['pending', 'running'])));
    if (row.status === 'deleting' || removal) throw new ServiceError('conflict', `domain ${domain} is being deleted`, { status: row.status, pipelineId: removal?.id });
    const onNodes = await tx
      .select({ id: nodes.id, ip: nodes.ip })
      .from(domainNodes)
      .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
      .where(and(eq(domainNodes.domain, domain), ne(domainNodes.status, 'delete')));
    return ctx.engine.queue(tx, REMOVE_DOMAIN({ domain, nodes: onNodes }));
  });
  await ctx.engine.dispatch(run.id, run.spec);
  ctx.log.info({ domain, pipelineId: run.id }, 'domain removal started');
  return { pipeline: queuedView(run) };
}

/** Locks and returns a live domain (not deleted, not being deleted), or throws 404/409. */
async function liveDomainForUpdate(tx: Parameters<Parameters<ManagerContext['db']['transaction']>[0]>[0], domain: string) {
  const [row] = await tx.select().from(domains).where(eq(domains.domain, domain)).for('update');
  if (!row || row.status === 'delete') throw new ServiceError('not_found', `domain ${domain} not found`);
  if (row.status === 'deleting') throw new ServiceError('conflict', `domain ${domain} is being deleted`, { status: row.status });
  return row;
}

/** PATCH origins: a new config version is rolled out to the domain's nodes (UPDATE_DOMAIN). */
export async function updateDomain(ctx: ManagerContext, domain: string, input: { origins: string[] }): Promise<{ domain: DomainView; pipeline: PipelineView }> {
  const origins = checkOrigins(input.origins);
  const run = await ctx.db.transaction(async (tx) => {
    const row = await liveDomainForUpdate(tx, domain);
    await tx.update(domains).set({ origins, configVersion: row.configVersion + 1, updatedAt: new Date() }).where(eq(domains.domain, domain));
    const onNodes = await tx
      .select({ id: nodes.id, ip: nodes.ip })
      .from(domainNodes)
      .innerJoin(nodes, eq(nodes.id, domainNodes.nodeId))
      .where(and(eq(domainNodes.domain, domain), ne(domainNodes.status, 'delete'), eq(nodes.status, 'normal')));
    // Nodes that are down get the new version from their RECOVER_NODE.
    return ctx.engine.queue(tx, UPDATE_DOMAIN({ domain, nodes: onNodes }));
  });
  await ctx.engine.dispatch(run.id, run.spec);
  ctx.log.info({ domain, pipelineId: run.id }, 'domain origins changed');
  return { domain: await getDomain(ctx, domain), pipeline: queuedView(run) };
}

/** Puts one more node under a running domain (JOIN_NODE). */
export async function joinNode(ctx: ManagerContext, domain: string, nodeId: string): Promise<{ pipeline: PipelineView }> {
  const run = await ctx.db.transaction(async (tx) => {
    await liveDomainForUpdate(tx, domain);
    const [n] = await tx.select().from(nodes).where(eq(nodes.id, nodeId));
    if (!n || n.status === 'delete') throw bad('nodeId', `node ${nodeId} does not exist`);
    if (!n.roles.includes('cdn')) throw bad('nodeId', `node ${nodeId} does not have the cdn role`);
    if (n.status !== 'normal') throw new ServiceError('conflict', `node ${nodeId} is ${n.status}, not normal`, { field: 'nodeId', status: n.status });
    const [on] = await tx.select().from(domainNodes).where(and(eq(domainNodes.domain, domain), eq(domainNodes.nodeId, nodeId)));
    if (on && on.status !== 'delete') throw new ServiceError('conflict', `node ${nodeId} serves ${domain} already`, { field: 'nodeId', status: on.status });
    if (on) await tx.update(domainNodes).set({ status: 'new', updatedAt: new Date() }).where(and(eq(domainNodes.domain, domain), eq(domainNodes.nodeId, nodeId)));
    else await tx.insert(domainNodes).values({ domain, nodeId, status: 'new' });
    return ctx.engine.queue(tx, JOIN_NODE(domain, { id: n.id, ip: n.ip }));
  });
  await ctx.engine.dispatch(run.id, run.spec);
  ctx.log.info({ domain, nodeId, pipelineId: run.id }, 'node joins domain');
  return { pipeline: queuedView(run) };
}

/** Domains by status, for /metrics. */
export async function countDomainsByStatus(ctx: Pick<ManagerContext, 'db'>): Promise<Record<string, number>> {
  const rows = await ctx.db
    .select({ status: domains.status, n: sql<number>`count(*)::int` })
    .from(domains)
    .groupBy(domains.status);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}
