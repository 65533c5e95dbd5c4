import { sql } from 'drizzle-orm';
import type { ApiRole, DomainNodeStatus, DomainStatus, NodeRole, NodeStatus, PipelineStatus, StepStatus, VodTaskStatus } from '@ocdn/protocol';
import { bigint, boolean, index, integer, jsonb, pgTable, pgView, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export interface RetryPolicy {
  /** Attempts in one run of the step before it fails (1 = no retry). */
  maxAttempts: number;
  /** First backoff delay; doubles per attempt up to maxDelayMs, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** The step fails once it has been retrying this long, whatever maxAttempts says. */
  deadlineMs: number;
}

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** Key/value settings of the manager (the admin token's hash lives here). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Edge nodes. `status` uses the seed's names: new, normal, fault, deleting, delete. */
export const nodes = pgTable(
  'nodes',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    ip: text('ip').notNull(),
    roles: jsonb('roles').$type<NodeRole[]>().notNull(),
    agentPort: integer('agent_port').notNull(),
    status: text('status').$type<NodeStatus>().notNull(),
    /** The node token, which the manager presents to the agent's HTTP API. */
    token: text('token').notNull(),
    /** sha256 of the token's secret part, compared in constant time when an agent connects. */
    tokenHash: text('token_hash').notNull(),
    /**
     * A rotated token waiting for the agent: the agent may still use `token` until it connects with this one
     * (which then becomes `token`) or until `oldTokenUntil` passes.
     */
    nextToken: text('next_token'),
    nextTokenHash: text('next_token_hash'),
    oldTokenUntil: ts('old_token_until'),
    /** The agent serves its HTTP API over TLS: it is reached over https only, never plain HTTP. */
    tls: boolean('tls').notNull().default(false),
    agentVersion: text('agent_version'),
    lastHeartbeatAt: ts('last_heartbeat_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('nodes_live_name').on(t.name).where(sql`status <> 'delete'`),
    uniqueIndex('nodes_live_ip').on(t.ip).where(sql`status <> 'delete'`),
  ],
);

/** One run of a seed task (ADD_NODE, …). `status`: pending, running, succeeded, failed. */
export const pipelines = pgTable(
  'pipelines',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    subject: text('subject').notNull(),
    status: text('status').$type<PipelineStatus>().notNull(),
    input: jsonb('input').$type<Record<string, unknown>>().notNull(),
    /**
     * The run's steps, in order (StepSpec: name, target, group, params, policy). A step's row in pipeline_steps is
     * written when something happens to it; read every step through the view run_steps (migration 0015). Null for
     * runs written before that migration, whose rows carry everything.
     */
    steps: jsonb('steps').$type<StoredStep[]>(),
    /** The run's distinct retry policies, which its steps name by their place here ("p"; migration 0018). */
    policies: jsonb('policies').$type<RetryPolicy[]>(),
    /** Replica that is executing the run, and until when its claim holds without renewal. */
    leaseOwner: text('lease_owner'),
    leaseUntil: ts('lease_until'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
  },
  (t) => [
    index('pipelines_subject_created').on(t.subject, t.createdAt),
    index('pipelines_unfinished').on(t.status).where(sql`status in ('pending', 'running')`),
    index('pipelines_kind_created').on(t.kind, t.createdAt),
  ],
);

/** A step as a run keeps it (pipelines.steps). */
export interface StoredStep {
  name: string;
  target: string | null;
  group?: string;
  params: Record<string, unknown>;
  /** Written by replicas before migration 0018; since then `p`, the policy's place in pipelines.policies. */
  policy?: RetryPolicy;
  p?: number;
}

/**
 * What happened to a run's steps, one row per step once something has (its outcome, a retry, a cancellation); a
 * step without a row is `pending`, never tried. `name` is the seed's module name. Rows of runs that keep their steps
 * (pipelines.steps) carry the state only; the view run_steps is every step with both halves.
 */
export const pipelineSteps = pgTable(
  'pipeline_steps',
  {
    /**
     * The run's id. No foreign key: steps are written only with their run (queueRuns), and the key's per-row check
     * was a third of the step insert; deleting a run deletes its steps by a trigger (migration 0013).
     */
    pipelineId: text('pipeline_id').notNull(),
    idx: integer('idx').notNull(),
    name: text('name'),
    target: text('target'),
    /**
     * Consecutive steps with a group form a block: each group's steps run in order, groups run side by side, and
     * one group failing does not stop the others (one node's trouble does not hold back a domain).
     */
    group: text('group'),
    params: jsonb('params').$type<Record<string, unknown>>(),
    /** How the step is retried: the seed's "(No) retry.." steps retry with backoff, others fail at once. */
    policy: jsonb('policy').$type<RetryPolicy>(),
    /** A run's statuses, or `skipped` (StepStatus). */
    status: text('status').$type<StepStatus>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.idx] })],
);

/** Every step of every run, in order, written or not (migration 0015): what the API shows and a resumed run reads. */
export const runSteps = pgView('run_steps', {
  pipelineId: text('pipeline_id').notNull(),
  idx: integer('idx').notNull(),
  name: text('name').notNull(),
  target: text('target'),
  group: text('group'),
  params: jsonb('params').$type<Record<string, unknown>>().notNull(),
  policy: jsonb('policy').$type<RetryPolicy>().notNull(),
  status: text('status').$type<StepStatus>().notNull(),
  attempts: integer('attempts').notNull(),
  error: text('error'),
  startedAt: ts('started_at'),
  finishedAt: ts('finished_at'),
}).existing();

/** Records the built-in DNS answers (and, with rfc2136, what was sent to the primary). */
export const dnsRecords = pgTable(
  'dns_records',
  {
    name: text('name').notNull(),
    type: text('type').notNull(),
    value: text('value').notNull(),
    ttl: integer('ttl').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.name, t.type, t.value] })],
);

/** CDN domains. `status` uses the seed's names: normal (being set up), complete, deleting, delete. */
export const domains = pgTable(
  'domains',
  {
    domain: text('domain').primaryKey(),
    subDomain: text('sub_domain').notNull(),
    origins: jsonb('origins').$type<string[]>().notNull(),
    status: text('status').$type<DomainStatus>().notNull(),
    configVersion: integer('config_version').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('domains_live_sub_domain').on(t.subDomain).where(sql`status <> 'delete'`)],
);

/** A domain on a node. `status` uses the seed's names: new, complete, fault, delete. */
export const domainNodes = pgTable(
  'domain_nodes',
  {
    /**
     * The domain and the node. No foreign keys: statement triggers check both once per statement, lock what they
     * refer to as the keys did, and delete a domain's rows with it (migration 0017); the keys' per-row checks were most
     * of a domain's 50-row insert on the embedded database. A missing domain or node fails with SQLSTATE 23503.
     */
    domain: text('domain').notNull(),
    nodeId: text('node_id').notNull(),
    status: text('status').$type<DomainNodeStatus>().notNull(),
    /** The node's address stays published only because every node of the domain was down (fail open). */
    dnsKept: boolean('dns_kept').notNull().default(false),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.domain, t.nodeId] }),
    index('domain_nodes_node').on(t.nodeId),
    // The few addresses kept (fail open), found by domain without reading the domains' other rows (drizzle/0012).
    index('domain_nodes_kept').on(t.domain).where(sql`dns_kept`),
  ],
);

/**
 * VOD distribution tasks (the seed's "배포 schedule"): copy `file` from a source server onto a VOD server.
 * `status`: ready, working, done, failed. A task the task manager takes out of the queue keeps its row, with
 * `removedAt` and the reason, so that operators can still see it.
 */
export const vodTasks = pgTable(
  'vod_tasks',
  {
    id: text('id').primaryKey(),
    file: text('file').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    nodeId: text('node_id')
      .notNull()
      .references(() => nodes.id),
    sourceNodeId: text('source_node_id')
      .notNull()
      .references(() => nodes.id),
    status: text('status').$type<VodTaskStatus>().notNull(),
    bytesDone: bigint('bytes_done', { mode: 'number' }).notNull().default(0),
    error: text('error'),
    removedAt: ts('removed_at'),
    removedReason: text('removed_reason'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('vod_tasks_queued_node').on(t.nodeId).where(sql`removed_at is null`),
    index('vod_tasks_removed').on(t.removedAt),
  ],
);

/** What each VOD or source server held when the placement loops last looked: its files and its disk. */
export const vodInventory = pgTable('vod_inventory', {
  nodeId: text('node_id')
    .primaryKey()
    .references(() => nodes.id),
  /** [name, size] pairs. */
  files: jsonb('files').$type<[string, number][]>().notNull(),
  df: jsonb('df').$type<{ total: number; free: number; used: number; usedPercent: number } | null>(),
  /** sha256 of the file list, so an unchanged list is not written again. */
  filesHash: text('files_hash').notNull(),
  checkedAt: ts('checked_at').notNull().defaultNow(),
});

/** DNS forwarding: views (`default` always exists). */
export const fwdViews = pgTable('fwd_views', {
  name: text('name').primaryKey(),
  matchClients: jsonb('match_clients').$type<string[]>().notNull(),
  comment: text('comment').notNull().default(''),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Forwarder groups: resolver addresses (`ip` or `ip:port`, IPv6 as `[ip]:port`). */
export const fwdForwarderGroups = pgTable('fwd_forwarder_groups', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  addresses: jsonb('addresses').$type<string[]>().notNull(),
  comment: text('comment').notNull().default(''),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Domain groups: no domain of one group equals, contains or is contained by a domain of another. */
export const fwdDomainGroups = pgTable('fwd_domain_groups', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  domains: jsonb('domains').$type<string[]>().notNull(),
  comment: text('comment').notNull().default(''),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Time schedulers; `version` grows with every change (overlap results are cached by it). */
export const fwdTimeSchedulers = pgTable('fwd_time_schedulers', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  timeType: text('time_type').notNull(),
  timePeriods: jsonb('time_periods').$type<{ beginTime: string; endTime: string }[]>().notNull(),
  timezone: text('timezone'),
  comment: text('comment').notNull().default(''),
  version: integer('version').notNull().default(1),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Forward zones under a view. `active`: in effect on the DNS nodes as of the last tick or change. */
export const fwdZones = pgTable(
  'fwd_zones',
  {
    id: text('id').primaryKey(),
    view: text('view')
      .notNull()
      .references(() => fwdViews.name),
    forwardItemType: text('forward_item_type').notNull(),
    domain: text('domain'),
    domainGroupIds: jsonb('domain_group_ids').$type<string[]>().notNull(),
    forwarderGroupIds: jsonb('forwarder_group_ids').$type<string[]>().notNull(),
    timeScheduler: text('time_scheduler').references(() => fwdTimeSchedulers.id),
    forwardStyle: text('forward_style').notNull(),
    comment: text('comment').notNull().default(''),
    active: boolean('active').notNull().default(false),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [index('fwd_zones_view').on(t.view)],
);

/** API tokens of people and scripts (the admin API). The secret is kept only as a keyed hash. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role').$type<ApiRole>().notNull(),
    /** `hmac-sha256:<hex>` of the secret, or `sha256:<hex>` for a bootstrap token stored before tokens had roles. */
    secretHash: text('secret_hash').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    createdBy: text('created_by'),
    expiresAt: ts('expires_at'),
    /** Kept to the minute: written at most once a minute per token and replica, never on every request. */
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [uniqueIndex('api_tokens_live_name').on(t.name).where(sql`revoked_at is null`)],
);

/** Browser sessions of the console: a cookie that stands for one API token, revoked with it. */
export const sessions = pgTable('sessions', {
  id: text('id').primaryKey(),
  tokenId: text('token_id').notNull(),
  secretHash: text('secret_hash').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  expiresAt: ts('expires_at').notNull(),
});

/** Who changed what: one entry per state-changing admin request, refused ones included. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: ts('at').notNull().defaultNow(),
    tokenId: text('token_id'),
    tokenName: text('token_name'),
    role: text('role'),
    sourceIp: text('source_ip'),
    method: text('method').notNull(),
    route: text('route').notNull(),
    resourceType: text('resource_type'),
    resourceId: text('resource_id'),
    status: integer('status').notNull(),
    before: jsonb('before'),
    after: jsonb('after'),
  },
  (t) => [index('audit_log_at').on(t.at), index('audit_log_resource').on(t.resourceType, t.resourceId, t.id), index('audit_log_actor').on(t.tokenId, t.id)],
);
