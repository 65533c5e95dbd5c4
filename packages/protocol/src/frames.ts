import * as z from 'zod/mini';
import { NodeRole } from './roles.ts';

/**
 * WebSocket frames between agent and manager. Every frame is one JSON object with a `type`.
 * Both ends validate what they receive with these schemas.
 */

/** Largest frame either side accepts, in bytes. Larger frames close the socket with 1009. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** A config the agent holds, reported so the manager can repair drift. */
export const HeldConfig = z.object({
  kind: z.string().check(z.minLength(1), z.maxLength(32)),
  name: z.string().check(z.minLength(1), z.maxLength(512)),
  version: z.nullable(z.int().check(z.nonnegative())),
  hash: z.string().check(z.minLength(1), z.maxLength(128)),
});
export type HeldConfig = z.infer<typeof HeldConfig>;

/** agent → manager, first frame after the upgrade. */
export const AgentHelloFrame = z.strictObject({
  type: z.literal('hello'),
  protocolVersion: z.string().check(z.minLength(1), z.maxLength(16)),
  agentVersion: z.string().check(z.minLength(1), z.maxLength(64)),
  roles: z.array(NodeRole).check(z.maxLength(8)),
  configs: z.array(HeldConfig).check(z.maxLength(100_000)),
});
export type AgentHelloFrame = z.infer<typeof AgentHelloFrame>;

/** manager → agent, answer to a valid hello. */
export const ManagerWelcomeFrame = z.object({
  type: z.literal('welcome'),
  nodeId: z.string(),
  protocolVersion: z.string(),
  managerVersion: z.string(),
  roles: z.array(NodeRole),
  heartbeatIntervalMs: z.int().check(z.positive()),
});
export type ManagerWelcomeFrame = z.infer<typeof ManagerWelcomeFrame>;

/** agent → manager, every heartbeat interval. */
export const AgentHeartbeatFrame = z.strictObject({
  type: z.literal('heartbeat'),
  seq: z.int().check(z.nonnegative()),
  uptimeSeconds: z.number().check(z.nonnegative()),
});
export type AgentHeartbeatFrame = z.infer<typeof AgentHeartbeatFrame>;

/** manager → agent: call a method on the agent. */
export const RpcRequestFrame = z.object({
  type: z.literal('request'),
  id: z.string().check(z.minLength(1), z.maxLength(64)),
  method: z.string().check(z.minLength(1), z.maxLength(64)),
  params: z.unknown(),
  timeoutMs: z.optional(z.int().check(z.positive())),
});
export type RpcRequestFrame = z.infer<typeof RpcRequestFrame>;

export const RpcErrorBody = z.object({
  code: z.string().check(z.maxLength(64)),
  message: z.string().check(z.maxLength(8192)),
  details: z.optional(z.unknown()),
});
export type RpcErrorBody = z.infer<typeof RpcErrorBody>;

/** agent → manager: the outcome of one request. */
export const RpcResponseFrame = z.discriminatedUnion('ok', [
  z.strictObject({ type: z.literal('response'), id: z.string().check(z.minLength(1), z.maxLength(64)), ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ type: z.literal('response'), id: z.string().check(z.minLength(1), z.maxLength(64)), ok: z.literal(false), error: RpcErrorBody }),
]);
export type RpcResponseFrame = z.infer<typeof RpcResponseFrame>;

/** Most frames one `batch` frame carries. */
export const MAX_BATCH_FRAMES = 256;

/**
 * manager → agent (protocol 1.1): several requests in one frame. Each is answered on its own, as if it had come
 * alone; a rollout sends thousands of small requests per node, and one frame per turn of the event loop costs a
 * fraction of one frame each.
 */
export const RpcBatchRequestFrame = z.object({
  type: z.literal('batch'),
  frames: z.array(RpcRequestFrame).check(z.minLength(1), z.maxLength(MAX_BATCH_FRAMES)),
});
export type RpcBatchRequestFrame = z.infer<typeof RpcBatchRequestFrame>;

/** agent → manager (protocol 1.1): responses that were ready together, in one frame. */
export const RpcBatchResponseFrame = z.strictObject({
  type: z.literal('batch'),
  frames: z.array(RpcResponseFrame).check(z.minLength(1), z.maxLength(MAX_BATCH_FRAMES)),
});
export type RpcBatchResponseFrame = z.infer<typeof RpcBatchResponseFrame>;

/** A batch frame stays well below MAX_FRAME_BYTES: frames that would make it larger go in the next one. */
const BATCH_FRAME_BUDGET = 1024 * 1024;

/**
 * Sends frames (already JSON) as few batch frames as the limits allow; a frame alone goes as itself. The sender
 * calls this only toward a peer that speaks batches.
 */
export function sendBatched(frames: string[], send: (text: string) => void): void {
  let group: string[] = [];
  let size = 0;
  const flush = () => {
    if (group.length === 1) send(group[0]!);
    else if (group.length > 1) send(`{"type":"batch","frames":[${group.join(',')}]}`);
    group = [];
    size = 0;
  };
  for (const f of frames) {
    if (group.length > 0 && (group.length >= MAX_BATCH_FRAMES || size + f.length > BATCH_FRAME_BUDGET)) flush();
    group.push(f);
    size += f.length + 1;
  }
  flush();
}

/** agent → manager: something happened on the node (config changed, task progress, driver state). */
export const AgentEventFrame = z.strictObject({
  type: z.literal('event'),
  name: z.string().check(z.minLength(1), z.maxLength(64)),
  data: z.unknown(),
});
export type AgentEventFrame = z.infer<typeof AgentEventFrame>;

/** Either side: the peer sent something it could not accept. Informational; the sender may close after it. */
export const ErrorFrame = z.object({
  type: z.literal('error'),
  code: z.string(),
  message: z.string(),
});
export type ErrorFrame = z.infer<typeof ErrorFrame>;

/** Every frame the manager accepts from an agent after the hello. */
export const AgentFrame = z.union([AgentHeartbeatFrame, RpcResponseFrame, RpcBatchResponseFrame, AgentEventFrame, ErrorFrame]);
export type AgentFrame = z.infer<typeof AgentFrame>;

/** The schema of each agent frame by its `type`, so an error names the field of the frame that was meant. */
export const AgentFrameByType = {
  heartbeat: AgentHeartbeatFrame,
  response: RpcResponseFrame,
  batch: RpcBatchResponseFrame,
  event: AgentEventFrame,
  error: ErrorFrame,
} as const;

/** Every frame the agent accepts from the manager. */
export const ManagerFrame = z.union([ManagerWelcomeFrame, RpcRequestFrame, RpcBatchRequestFrame, ErrorFrame]);
export type ManagerFrame = z.infer<typeof ManagerFrame>;

/** WebSocket close codes used by ocdn (4000–4999 are application codes). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  invalidPayload: 1007,
  tooBig: 1009,
  helloTimeout: 4000,
  invalidFrame: 4400,
  unauthorized: 4401,
  nodeDeleted: 4404,
  replaced: 4409,
  incompatibleProtocol: 4426,
} as const;
