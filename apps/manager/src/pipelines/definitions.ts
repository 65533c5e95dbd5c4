import type { DomainNodeStatus, NodeStatus } from '@ocdn/protocol';
import { NO_RETRY, RETRY, WAIT_FOR_AGENT, type PipelineKind, type PipelineSpec, type RetryPolicy, type StepName, type StepParams, type StepSpec } from './types.ts';

/**
 * The seed's tasks as ordered steps. Each step names the seed module it runs; `target` is what it acts on.
 * Domain steps (OCDN_DEL_DNS, OCDN_SYNC_CONF, …) join these in the CDN pipelines.
 */

interface NodeRef {
  id: string;
  ip: string;
}

const nodeStatus = (node: NodeRef, status: NodeStatus): StepSpec => ({
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

/** Steps on one domain and one node take these parameters, and maybe more of their own. */
type OnNodeStep = { [N in StepName]: StepParams[N] extends { domain: string; nodeId: string; ip: string } ? N : never }[StepName];
type Extra<N extends OnNodeStep> = Omit<StepParams[N], 'domain' | 'nodeId' | 'ip'>;

const onNode = <N extends OnNodeStep>(name: N, domain: string, node: NodeRef, extra: Extra<N>, policy: RetryPolicy, at: { target: string; group: string }): StepSpec =>
  ({ name, ...at, params: { domain, nodeId: node.id, ip: node.ip, ...extra }, policy }) as StepSpec;

/** A step of one domain on a node inside a node pipeline (group = domain). */
const domainOnNode = <N extends OnNodeStep>(name: N, domain: string, node: NodeRef, extra: Extra<N>, policy = NO_RETRY): StepSpec =>
  onNode(name, domain, node, extra, policy, { target: domain, group: domain });

/** ADD_NODE: OCDN_NODE_HEART(ip, token) → OCDN_NODE_STATUS(ip, normal). Waits for the agent with backoff. */
export const ADD_NODE = (node: NodeRef) =>
  nodePipeline('ADD_NODE', node, [
    { name: 'OCDN_NODE_HEART', target: node.ip, params: { nodeId: node.id }, policy: WAIT_FOR_AGENT },
    nodeStatus(node, 'normal'),
  ]);

/**
 * REMOVE_NODE: OCDN_NODE_STATUS(deleting) → per domain: OCDN_DEL_DNS (retry) → OCDN_DEL_CONF (retry; best effort
 * on a node that cannot be reached) → OCDN_DOMAIN_NODE(delete) → OCDN_NODE_STATUS(delete).
 */
export const REMOVE_NODE = (node: NodeRef, domains: string[] = []) =>
  nodePipeline('REMOVE_NODE', node, [
    nodeStatus(node, 'deleting'),
    ...domains.flatMap((d) => [
      domainOnNode('OCDN_DEL_DNS', d, node, {}, RETRY),
      domainOnNode('OCDN_DEL_CONF', d, node, { bestEffort: true }, RETRY),
      domainOnNode('OCDN_DOMAIN_NODE', d, node, domainNode('delete')),
    ]),
    nodeStatus(node, 'delete'),
  ]);

/**
 * FAULT_NODE: OCDN_NODE_STATUS(fault) → per domain: OCDN_DEL_DNS (retry; fail open: the last address of a domain
 * stays published) → OCDN_DOMAIN_NODE(fault).
 */
export const FAULT_NODE = (node: NodeRef, domains: string[] = []) =>
  nodePipeline('FAULT_NODE', node, [
    nodeStatus(node, 'fault'),
    ...domains.flatMap((d) => [
      domainOnNode('OCDN_DEL_DNS', d, node, { failOpen: true }, RETRY),
      domainOnNode('OCDN_DOMAIN_NODE', d, node, domainNode('fault')),
    ]),
  ]);

/**
 * RECOVER_NODE: per domain: OCDN_SYNC_CONF → OCDN_NODE_RELOAD (retry) → OCDN_VER_CONF (retry) → OCDN_MODIFI_DNS
 * (retry) → OCDN_DOMAIN_NODE(complete) → OCDN_NODE_STATUS(normal). Published again only after it is verified.
 */
export const RECOVER_NODE = (node: NodeRef, domains: string[] = []) =>
  nodePipeline('RECOVER_NODE', node, [
    ...domains.flatMap((d) => [
      domainOnNode('OCDN_SYNC_CONF', d, node, {}, RETRY),
      domainOnNode('OCDN_NODE_RELOAD', d, node, {}, RETRY),
      domainOnNode('OCDN_VER_CONF', d, node, {}, RETRY),
      domainOnNode('OCDN_MODIFI_DNS', d, node, {}, RETRY),
      domainOnNode('OCDN_DOMAIN_NODE', d, node, domainNode('complete')),
    ]),
    nodeStatus(node, 'normal'),
  ]);

interface DomainOnNodes {
  domain: string;
  nodes: NodeRef[];
}

const domainStatus = (domain: string, status: StepParams['OCDN_DOMAIN_STATUS']['status']): StepSpec => ({ name: 'OCDN_DOMAIN_STATUS', target: domain, params: { domain, status }, policy: NO_RETRY });
const makeConf = (domain: string): StepSpec => ({ name: 'OCDN_MAKE_CONF', target: domain, params: { domain }, policy: NO_RETRY });

/** A step of one node's chain inside a domain pipeline (group = node: one node's trouble holds back no other). */
const nodeStep = <N extends OnNodeStep>(name: N, domain: string, node: NodeRef, extra: Extra<N>, policy = NO_RETRY): StepSpec =>
  onNode(name, domain, node, extra, policy, { target: node.ip, group: node.id });

const domainNode = (status: DomainNodeStatus) => ({ status });
/** The end of a run that brings a domain to a node: `complete` while the node is `normal` (see OCDN_DOMAIN_NODE). */
const completeIfNormal = { status: 'complete', requireNormal: true } as const;

/**
 * ADD_DOMAIN: OCDN_DOMAIN_STATUS(normal) → OCDN_MAKE_CONF → per node: OCDN_SYNC_CONF → OCDN_NODE_RELOAD (retry)
 * → OCDN_VER_CONF (retry) → OCDN_MODIFI_DNS (retry) → OCDN_DOMAIN_NODE(complete) → OCDN_DOMAIN_STATUS(complete).
 * A node is published only after its config is verified.
 */
export function ADD_DOMAIN({ domain, nodes }: DomainOnNodes): PipelineSpec {
  return {
    kind: 'ADD_DOMAIN',
    subject: domain,
    input: { domain, nodeIds: nodes.map((n) => n.id) },
    steps: [
      domainStatus(domain, 'normal'),
      makeConf(domain),
      ...nodes.flatMap((n) => [
        nodeStep('OCDN_SYNC_CONF', domain, n, {}, RETRY),
        nodeStep('OCDN_NODE_RELOAD', domain, n, {}, RETRY),
        nodeStep('OCDN_VER_CONF', domain, n, {}, RETRY),
        nodeStep('OCDN_MODIFI_DNS', domain, n, { requireNormal: true }, RETRY),
        nodeStep('OCDN_DOMAIN_NODE', domain, n, completeIfNormal),
      ]),
      domainStatus(domain, 'complete'),
    ],
  };
}

/**
 * REMOVE_DOMAIN: OCDN_DOMAIN_STATUS(deleting) → per node: OCDN_DEL_DNS (retry) → OCDN_DEL_CONF (retry) →
 * OCDN_DOMAIN_NODE(delete) → OCDN_DOMAIN_STATUS(delete). A node leaves DNS before its config is deleted.
 */
export function REMOVE_DOMAIN({ domain, nodes }: DomainOnNodes): PipelineSpec {
  return {
    kind: 'REMOVE_DOMAIN',
    subject: domain,
    input: { domain, nodeIds: nodes.map((n) => n.id) },
    steps: [
      domainStatus(domain, 'deleting'),
      ...nodes.flatMap((n) => [
        nodeStep('OCDN_DEL_DNS', domain, n, {}, RETRY),
        nodeStep('OCDN_DEL_CONF', domain, n, {}, RETRY),
        nodeStep('OCDN_DOMAIN_NODE', domain, n, domainNode('delete')),
      ]),
      domainStatus(domain, 'delete'),
    ],
  };
}

/**
 * JOIN_NODE: OCDN_DOMAIN_NODE(new) → OCDN_SYNC_CONF → OCDN_NODE_RELOAD (retry) → OCDN_VER_CONF (retry) →
 * OCDN_MODIFI_DNS (retry) → OCDN_DOMAIN_NODE(complete). The seed's steps, with the reload and the version check
 * that every node passes before it is published.
 */
export function JOIN_NODE(domain: string, node: NodeRef): PipelineSpec {
  return {
    kind: 'JOIN_NODE',
    subject: domain,
    input: { domain, nodeId: node.id },
    steps: [
      nodeStep('OCDN_DOMAIN_NODE', domain, node, domainNode('new')),
      nodeStep('OCDN_SYNC_CONF', domain, node, {}, RETRY),
      nodeStep('OCDN_NODE_RELOAD', domain, node, {}, RETRY),
      nodeStep('OCDN_VER_CONF', domain, node, {}, RETRY),
      nodeStep('OCDN_MODIFI_DNS', domain, node, { requireNormal: true }, RETRY),
      nodeStep('OCDN_DOMAIN_NODE', domain, node, completeIfNormal),
    ],
  };
}

/**
 * UPDATE_DOMAIN (PATCH of origins): OCDN_MAKE_CONF → per node: OCDN_SYNC_CONF → OCDN_NODE_RELOAD (retry) →
 * OCDN_VER_CONF (retry). DNS is untouched: the nodes keep serving, the old config until the new one is verified.
 */
export function UPDATE_DOMAIN({ domain, nodes }: DomainOnNodes): PipelineSpec {
  return {
    kind: 'UPDATE_DOMAIN',
    subject: domain,
    input: { domain, nodeIds: nodes.map((n) => n.id) },
    steps: [
      makeConf(domain),
      ...nodes.flatMap((n) => [
        nodeStep('OCDN_SYNC_CONF', domain, n, {}, RETRY),
        nodeStep('OCDN_NODE_RELOAD', domain, n, {}, RETRY),
        nodeStep('OCDN_VER_CONF', domain, n, {}, RETRY),
      ]),
    ],
  };
}
