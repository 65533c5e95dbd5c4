import * as z from 'zod/mini';
import { DomainName } from './names.ts';
import { NodeRole } from './roles.ts';
import { DnsApplyRequest, DnsApplyResponse } from './forwarding.ts';
import { VodDeleteFileRequest, VodDeleteFileResponse, VodDfResponse, VodFilesResponse, VodTasksChangedRequest, VodTasksChangedResponse } from './vod.ts';

/**
 * Methods the manager calls on an agent, over the socket (RPC frames) or over the agent's HTTP API.
 * Each method has one params schema and one result schema; both ends validate.
 */

/** Body of the agent's `GET /heartbeat`, and the result of the `node.heartbeat` RPC (OCDN_NODE_HEART). */
export const NodeHeartbeatResponse = z.object({
  nodeId: z.string(),
  agentVersion: z.string(),
  protocolVersion: z.string(),
  uptimeSeconds: z.number().check(z.nonnegative()),
  roles: z.array(NodeRole),
});
export type NodeHeartbeatResponse = z.infer<typeof NodeHeartbeatResponse>;

export const NodeHeartbeatRequest = z.strictObject({});
export type NodeHeartbeatRequest = z.infer<typeof NodeHeartbeatRequest>;

/** One nginx config file the agent holds for a domain: its version (from the file's header) and content hash. */
export const CdnConfInfo = z.object({
  domain: DomainName,
  version: z.nullable(z.int().check(z.nonnegative())),
  hash: z.nullable(z.string()),
});
export type CdnConfInfo = z.infer<typeof CdnConfInfo>;

/** OCDN_SYNC_CONF: write `<domain>.conf` (atomically; the previous file is kept until the next good reload). */
export const CdnSyncConfRequest = z.strictObject({
  domain: DomainName,
  version: z.int().check(z.nonnegative()),
  config: z.string().check(z.minLength(1), z.maxLength(1024 * 1024)),
});
export type CdnSyncConfRequest = z.infer<typeof CdnSyncConfRequest>;

/** OCDN_DEL_CONF: delete `<domain>.conf`; deleting a missing file succeeds. */
export const CdnDelConfRequest = z.strictObject({ domain: DomainName });
export type CdnDelConfRequest = z.infer<typeof CdnDelConfRequest>;
export const CdnDelConfResponse = z.object({ domain: DomainName, deleted: z.boolean() });
export type CdnDelConfResponse = z.infer<typeof CdnDelConfResponse>;

/**
 * OCDN_NODE_RELOAD: test the whole nginx configuration and reload. Requests close together are coalesced into
 * one reload. When the test fails, the files changed since the last good reload that nginx blames are restored,
 * and the request for that domain fails with nginx's message.
 */
export const CdnReloadRequest = z.strictObject({ domain: z.optional(DomainName) });
export type CdnReloadRequest = z.infer<typeof CdnReloadRequest>;
export const CdnReloadResponse = z.object({
  reloaded: z.boolean(),
  /** How many reload requests this one reload served. */
  coalesced: z.int().check(z.positive()),
  ms: z.number().check(z.nonnegative()),
});
export type CdnReloadResponse = z.infer<typeof CdnReloadResponse>;

/** OCDN_VER_CONF: what the agent holds for a domain. */
export const CdnVerConfRequest = z.strictObject({ domain: DomainName });
export type CdnVerConfRequest = z.infer<typeof CdnVerConfRequest>;

export const CdnListConfResponse = z.object({ items: z.array(CdnConfInfo) });
export type CdnListConfResponse = z.infer<typeof CdnListConfResponse>;

/** The method table: name → params and result schemas. */
export const RpcMethods = {
  'node.heartbeat': { params: NodeHeartbeatRequest, result: NodeHeartbeatResponse },
  'cdn.syncConf': { params: CdnSyncConfRequest, result: CdnConfInfo },
  'cdn.delConf': { params: CdnDelConfRequest, result: CdnDelConfResponse },
  'cdn.reload': { params: CdnReloadRequest, result: CdnReloadResponse },
  'cdn.verConf': { params: CdnVerConfRequest, result: CdnConfInfo },
  'cdn.listConf': { params: z.strictObject({}), result: CdnListConfResponse },
  'dns.apply': { params: DnsApplyRequest, result: DnsApplyResponse },
  'vod.files': { params: z.strictObject({}), result: VodFilesResponse },
  'vod.df': { params: z.strictObject({}), result: VodDfResponse },
  'vod.deleteFile': { params: VodDeleteFileRequest, result: VodDeleteFileResponse },
  'vod.tasksChanged': { params: VodTasksChangedRequest, result: VodTasksChangedResponse },
} as const;
export type RpcMethodName = keyof typeof RpcMethods;
export type RpcParams<M extends RpcMethodName> = z.infer<(typeof RpcMethods)[M]['params']>;
export type RpcResult<M extends RpcMethodName> = z.infer<(typeof RpcMethods)[M]['result']>;

/** Error codes an RPC can answer with. */
export const RpcErrorCode = z.enum([
  'unknown_method',
  'invalid_params',
  'role_not_enabled',
  'driver_unavailable',
  'command_failed',
  'not_found',
  'timeout',
  'internal',
]);
export type RpcErrorCode = z.infer<typeof RpcErrorCode>;
