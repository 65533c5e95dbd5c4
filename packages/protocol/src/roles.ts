import * as z from 'zod/mini';

/** What a node does; decides which agent drivers run. */
export const NodeRole = z.enum(['cdn', 'dns', 'vod', 'vod-source']);
export type NodeRole = z.infer<typeof NodeRole>;

/** Node status, with the seed's names. */
export const NodeStatus = z.enum(['new', 'normal', 'fault', 'deleting', 'delete']);
export type NodeStatus = z.infer<typeof NodeStatus>;

/** Domain status, with the seed's names: `normal` (being set up) → `complete`; `deleting` → `delete`. */
export const DomainStatus = z.enum(['normal', 'complete', 'deleting', 'delete']);
export type DomainStatus = z.infer<typeof DomainStatus>;

/** Status of a domain on one node, with the seed's names. */
export const DomainNodeStatus = z.enum(['new', 'complete', 'fault', 'delete']);
export type DomainNodeStatus = z.infer<typeof DomainNodeStatus>;

/** Status of a pipeline run and of each of its steps. */
export const PipelineStatus = z.enum(['pending', 'running', 'succeeded', 'failed']);
export type PipelineStatus = z.infer<typeof PipelineStatus>;

/**
 * Status of a step: a run's statuses, and `skipped` — a step on a node that became `fault` during the run, left to
 * what follows (the node's RECOVER_NODE; drift repair for a removal).
 */
export const StepStatus = z.enum([...PipelineStatus.options, 'skipped']);
export type StepStatus = z.infer<typeof StepStatus>;
