import { z } from 'zod';

/** What a node does; decides which agent drivers run. */
export const NodeRole = z.enum(['cdn', 'dns', 'vod', 'vod-source']);
export type NodeRole = z.infer<typeof NodeRole>;

/** Node status, with the seed's names. */
export const NodeStatus = z.enum(['new', 'normal', 'fault', 'deleting', 'delete']);
export type NodeStatus = z.infer<typeof NodeStatus>;
