import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';

/**
 * VOD placement: what the manager, the VOD servers and the source servers say to each other. The file API
 * (`GET /files`, `GET /df`, `DELETE /files/:name`) is the seed's; the same shapes travel over the socket as RPCs.
 */

/**
 * A file name as the VOD directories hold it: one path component, no NUL, no "/" or "\", not "." or "..", and not
 * starting with "." (hidden names are the agent's own: partial downloads and their state).
 */
export const VodFileName = z
  .string()
  .check(z.minLength(1), z.maxLength(255), z.refine((s) => isSafeFileName(s), { message: 'not a plain file name (no "/", "\\", NUL, leading "." or control characters)' }));
export type VodFileName = z.infer<typeof VodFileName>;

export function isSafeFileName(s: string): boolean {
  if (s.length === 0 || s.length > 255 || s.startsWith('.')) return false;
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u001f\u007f/\\]/.test(s);
}

export const VodFile = z.object({ name: VodFileName, size: z.int().check(z.nonnegative()), mtime: z.string() });
export type VodFile = z.infer<typeof VodFile>;

/** `GET /files`: every complete file of the directory (partial downloads are never listed). */
export const VodFilesResponse = z.object({ items: z.array(VodFile) });
export type VodFilesResponse = z.infer<typeof VodFilesResponse>;

/** `GET /df`: the disk of the file directory, in bytes. */
export const VodDfResponse = z.object({
  path: z.string(),
  total: z.number().check(z.nonnegative()),
  free: z.number().check(z.nonnegative()),
  used: z.number().check(z.nonnegative()),
  usedPercent: z.number().check(z.gte(0), z.lte(100)),
});
export type VodDfResponse = z.infer<typeof VodDfResponse>;

export const VodDeleteFileRequest = z.strictObject({ name: VodFileName });
export type VodDeleteFileRequest = z.infer<typeof VodDeleteFileRequest>;
export const VodDeleteFileResponse = z.object({ name: VodFileName, deleted: z.boolean() });
export type VodDeleteFileResponse = z.infer<typeof VodDeleteFileResponse>;

export const VodTaskStatus = z.enum(['ready', 'working', 'done', 'failed']);
export type VodTaskStatus = z.infer<typeof VodTaskStatus>;

/** Which status may follow which. `working → working` carries progress (bytesDone). */
export const VOD_TASK_TRANSITIONS: Record<VodTaskStatus, readonly VodTaskStatus[]> = {
  ready: ['working', 'failed'],
  working: ['working', 'done', 'failed'],
  done: [],
  failed: [],
};

/** A distribution task: copy `file` from the source server onto the VOD server `nodeId`. */
export const VodTask = z.object({
  id: z.string(),
  file: VodFileName,
  size: z.int().check(z.nonnegative()),
  nodeId: z.string(),
  sourceNodeId: z.string(),
  status: VodTaskStatus,
  bytesDone: z.int().check(z.nonnegative()),
  error: z.nullable(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type VodTask = z.infer<typeof VodTask>;

/** A task as its VOD server sees it: with a URL signed for this node to fetch the file from the source. */
export const AgentVodTask = z.extend(VodTask, { sourceUrl: z.string() });
export type AgentVodTask = z.infer<typeof AgentVodTask>;
export const AgentVodTasksResponse = z.object({ items: z.array(AgentVodTask) });
export type AgentVodTasksResponse = z.infer<typeof AgentVodTasksResponse>;

/** `PATCH /api/v1/agent/vod/tasks/:id`. */
export const VodTaskPatch = z.strictObject({
  status: z.enum(['working', 'done', 'failed']),
  bytesDone: z.optional(z.int().check(z.nonnegative())),
  error: z.optional(z.string().check(z.maxLength(2000), z.regex(/^[^\x00]*$/, 'no NUL character'))),
});
export type VodTaskPatch = z.infer<typeof VodTaskPatch>;

/** manager → VOD server: tasks changed, fetch them now instead of at the next poll. */
export const VodTasksChangedRequest = z.strictObject({});
export const VodTasksChangedResponse = z.object({ accepted: z.boolean() });

/**
 * Signed download URLs: the manager signs (file, downloading node, expiry) with the source node's token, which only
 * the manager and that source know; the source checks the signature in constant time. The query is
 * `?node=<downloader id>&expires=<unix seconds>&signature=<hex>`.
 */
export function signFileUrl(key: string, name: string, nodeId: string, expires: number): string {
  return createHmac('sha256', key).update(`GET /files/${name}\n${nodeId}\n${expires}`).digest('hex');
}

export type SignatureCheck = { ok: true; nodeId: string } | { ok: false; status: 401 | 403; reason: string };

export function verifyFileUrl(
  key: string,
  name: string,
  query: { node?: string | null; expires?: string | null; signature?: string | null },
  nowSeconds: number = Date.now() / 1000,
): SignatureCheck {
  const { node, expires, signature } = query;
  if (!signature || !expires || !node) return { ok: false, status: 401, reason: 'missing node token or signed URL' };
  if (!/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature) || !/^[A-Za-z0-9_]{1,64}$/.test(node)) {
    return { ok: false, status: 403, reason: 'malformed signed URL' };
  }
  const expected = Buffer.from(signFileUrl(key, name, node, Number(expires)), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: false, status: 403, reason: 'bad signature' };
  if (Number(expires) < nowSeconds) return { ok: false, status: 403, reason: 'signed URL expired' };
  return { ok: true, nodeId: node };
}
