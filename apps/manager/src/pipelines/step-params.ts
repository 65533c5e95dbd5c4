import { z } from 'zod';
import { DomainNodeStatus, DomainStatus, NodeStatus } from '@ocdn/protocol';

/**
 * The parameters of each seed module a step can run: one schema per step name. Pipeline definitions build steps of
 * these types (the compiler checks them), and the engine parses a step's stored parameters with its schema before
 * the handler runs (a row written by another version that does not fit fails the step with the reason).
 */
const node = { nodeId: z.string() };
const onNode = { domain: z.string(), nodeId: z.string(), ip: z.string() };

export const STEP_PARAMS = {
  OCDN_NODE_HEART: z.object(node),
  OCDN_NODE_STATUS: z.object({ ...node, status: NodeStatus }),
  OCDN_DOMAIN_STATUS: z.object({ domain: z.string(), status: DomainStatus }),
  OCDN_MAKE_CONF: z.object({ domain: z.string() }),
  OCDN_SYNC_CONF: z.object(onNode),
  OCDN_NODE_RELOAD: z.object(onNode),
  OCDN_VER_CONF: z.object(onNode),
  /** `requireNormal`: publish only while the node is `normal` (a node that failed meanwhile is published by RECOVER_NODE). */
  OCDN_MODIFI_DNS: z.object({ ...onNode, requireNormal: z.boolean().optional() }),
  /** `failOpen`: keep the address when no other node of the domain serves (FAULT_NODE). */
  OCDN_DEL_DNS: z.object({ ...onNode, failOpen: z.boolean().optional() }),
  /** `bestEffort`: a node that cannot be reached keeps its file (REMOVE_NODE: it is leaving anyway). */
  OCDN_DEL_CONF: z.object({ ...onNode, bestEffort: z.boolean().optional() }),
  /** `requireNormal`: `complete` only while the node is `normal` (a node that failed meanwhile is marked by its own runs). */
  OCDN_DOMAIN_NODE: z.object({ ...onNode, status: DomainNodeStatus, requireNormal: z.boolean().optional() }),
} as const;

/** The seed's modules that a step can run. */
export type StepName = keyof typeof STEP_PARAMS;
export type StepParams = { [N in StepName]: z.infer<(typeof STEP_PARAMS)[N]> };
