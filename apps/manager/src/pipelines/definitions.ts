import { NO_RETRY, WAIT_FOR_AGENT, type PipelineSpec } from './types.ts';

/**
 * The seed's tasks as ordered steps. Each step names the seed module it runs; `target` is what it acts on.
 * Domain steps (OCDN_DEL_DNS, OCDN_SYNC_CONF, …) join these in the CDN pipelines.
 */

interface NodeRef {
  id: string;
  ip: string;
}

/** ADD_NODE: OCDN_NODE_HEART(ip, token) → OCDN_NODE_STATUS(ip, normal). Waits for the agent with backoff. */
export function ADD_NODE(node: NodeRef): PipelineSpec {
  return {
    kind: 'ADD_NODE',
    subject: node.id,
    input: { nodeId: node.id },
    steps: [
      { name: 'OCDN_NODE_HEART', target: node.ip, params: { nodeId: node.id }, policy: WAIT_FOR_AGENT },
      { name: 'OCDN_NODE_STATUS', target: node.ip, params: { nodeId: node.id, status: 'normal' }, policy: NO_RETRY },
    ],
  };
}

/** REMOVE_NODE: OCDN_NODE_STATUS(deleting) → (domain steps) → OCDN_NODE_STATUS(delete). */
export function REMOVE_NODE(node: NodeRef): PipelineSpec {
  return {
    kind: 'REMOVE_NODE',
    subject: node.id,
    input: { nodeId: node.id },
    steps: [
      { name: 'OCDN_NODE_STATUS', target: node.ip, params: { nodeId: node.id, status: 'deleting' }, policy: NO_RETRY },
      { name: 'OCDN_NODE_STATUS', target: node.ip, params: { nodeId: node.id, status: 'delete' }, policy: NO_RETRY },
    ],
  };
}

/** FAULT_NODE: OCDN_NODE_STATUS(fault) → (withdraw its DNS records). */
export function FAULT_NODE(node: NodeRef): PipelineSpec {
  return {
    kind: 'FAULT_NODE',
    subject: node.id,
    input: { nodeId: node.id },
    steps: [{ name: 'OCDN_NODE_STATUS', target: node.ip, params: { nodeId: node.id, status: 'fault' }, policy: NO_RETRY }],
  };
}

/** RECOVER_NODE: (resync configs, publish DNS) → OCDN_NODE_STATUS(normal). */
export function RECOVER_NODE(node: NodeRef): PipelineSpec {
  return {
    kind: 'RECOVER_NODE',
    subject: node.id,
    input: { nodeId: node.id },
    steps: [{ name: 'OCDN_NODE_STATUS', target: node.ip, params: { nodeId: node.id, status: 'normal' }, policy: NO_RETRY }],
  };
}
