import { NO_RETRY, WAIT_FOR_AGENT, type PipelineKind, type PipelineSpec, type StepSpec } from './types.ts';

/**
 * The seed's tasks as ordered steps. Each step names the seed module it runs; `target` is what it acts on.
 * Domain steps (OCDN_DEL_DNS, OCDN_SYNC_CONF, …) join these in the CDN pipelines.
 */

interface NodeRef {
  id: string;
  ip: string;
}

const nodeStatus = (node: NodeRef, status: string): StepSpec => ({
  name: 'OCDN_NODE_STATUS',
  target: node.ip,
  params: { nodeId: node.id, status },
  policy: NO_RETRY,
});

const nodePipeline = (kind: PipelineKind, node: NodeRef, steps: StepSpec[]): PipelineSpec => ({
  kind,
  subject: node.id,
  input: { nodeId: node.id },
  steps,
});

/** ADD_NODE: OCDN_NODE_HEART(ip, token) → OCDN_NODE_STATUS(ip, normal). Waits for the agent with backoff. */
export const ADD_NODE = (node: NodeRef) =>
  nodePipeline('ADD_NODE', node, [
    { name: 'OCDN_NODE_HEART', target: node.ip, params: { nodeId: node.id }, policy: WAIT_FOR_AGENT },
    nodeStatus(node, 'normal'),
  ]);

/** REMOVE_NODE: OCDN_NODE_STATUS(deleting) → (domain steps) → OCDN_NODE_STATUS(delete). */
export const REMOVE_NODE = (node: NodeRef) => nodePipeline('REMOVE_NODE', node, [nodeStatus(node, 'deleting'), nodeStatus(node, 'delete')]);

/** FAULT_NODE: OCDN_NODE_STATUS(fault) → (withdraw its DNS records). */
export const FAULT_NODE = (node: NodeRef) => nodePipeline('FAULT_NODE', node, [nodeStatus(node, 'fault')]);

/** RECOVER_NODE: (resync configs, publish DNS) → OCDN_NODE_STATUS(normal). */
export const RECOVER_NODE = (node: NodeRef) => nodePipeline('RECOVER_NODE', node, [nodeStatus(node, 'normal')]);
