import { z } from 'zod';
import { NodeRole } from './roles.ts';

/**
 * Methods the manager calls on an agent, over the socket (RPC frames) or over the agent's HTTP API.
 * Each method has one params schema and one result schema; both ends validate.
 */

/** Body of the agent's `GET /heartbeat`, and the result of the `node.heartbeat` RPC (OCDN_NODE_HEART). */
export const NodeHeartbeatResponse = z.object({
  nodeId: z.string(),
  agentVersion: z.string(),
  protocolVersion: z.string(),
  uptimeSeconds: z.number().nonnegative(),
  roles: z.array(NodeRole),
});
export type NodeHeartbeatResponse = z.infer<typeof NodeHeartbeatResponse>;

export const NodeHeartbeatRequest = z.object({}).strict();
export type NodeHeartbeatRequest = z.infer<typeof NodeHeartbeatRequest>;

/** The method table: name → params and result schemas. */
export const RpcMethods = {
  'node.heartbeat': { params: NodeHeartbeatRequest, result: NodeHeartbeatResponse },
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
