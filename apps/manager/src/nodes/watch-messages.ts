// What the manager's health monitor (health.ts, watch.ts) and its watch thread (watch-worker.ts) say to each other.
// Imported by both: no side effects.
import type { PriorityOutcome } from '../thread-priority.ts';
import type { NodeEndpoint } from '../hub/traffic.ts';
import type { MessagePort } from 'node:worker_threads';

export interface WatchConfig {
  /** The heartbeat period the agents' streams are asked for (OCDN_HEARTBEAT_INTERVAL_MS). */
  intervalMs: number;
  /** PEM trusted for agents' TLS certificates (OCDN_AGENT_CA), or null for the system store. */
  agentCa: string | null;
  /** PostgreSQL (DATABASE_URL): the thread writes its decisions itself. Null (the embedded database): the manager does. */
  databaseUrl: string | null;
  nice: number | null;
  rtPriority: number | null;
  /** The built-in DNS's ring for addresses to withhold (dns/builtin.ts), when it answers on a thread; else null. */
  withholdFeed: SharedArrayBuffer | null;
  /** Its answering processes' withhold sockets (dns/withhold-link.ts), when it answers from processes; else empty. */
  withholdSockets: string[];
  /** The embedded database: where decisions go (below); null on PostgreSQL, where the thread writes them. */
  handover: Handover | null;
}

/**
 * The embedded database's decisions go on a port of their own, and `waiting` (an Int32 counter) is raised after each
 * one is posted: the manager's thread looks at it whenever an operation of the database ends and takes what waits
 * with receiveMessageOnPort, at once, instead of when the event loop next reads its messages — after the turn under
 * way, a stretch of pipeline work during a rollout. The port's own messages take the rest (an idle database).
 */
export interface Handover {
  port: MessagePort;
  waiting: SharedArrayBuffer;
}

export type ToWatch =
  /** The nodes to watch: every `normal` node, whole (a node missing from the list is no longer watched). */
  | { op: 'nodes'; nodes: NodeEndpoint[] }
  /**
   * What changed since the last list: nodes added or changed (`set`, whole) and nodes no longer watched (`drop`).
   * A fleet's list is thousands of nodes read again every few seconds; posting it whole each time held the manager's
   * thread ~0.1 s at 5,000 nodes.
   */
  | { op: 'change'; set: NodeEndpoint[]; drop: string[] }
  /** Whether this replica runs the health monitor: the thread writes decisions only while it does. */
  | { op: 'lead'; held: boolean }
  /**
   * Heartbeat probes over the agents' HTTP APIs (watch-probe.ts) of nodes whose agent has no link to this replica:
   * watched nodes by id, others (faulty nodes, probed until they recover) with their endpoint; each given `timeoutMs`
   * once it starts; answered in `probed` batches.
   */
  | { op: 'probe'; ids: string[]; nodes: NodeEndpoint[]; timeoutMs: number };

export type FromWatch =
  | { op: 'ready'; tid: number; priority: PriorityOutcome }
  /**
   * The agent's stream closed and nothing accepts a connection on its port: its process is gone. `run`: the thread
   * wrote the decision (status `fault` and this FAULT_NODE run, for the manager to execute); null: the manager writes it.
   */
  | {
      op: 'decided';
      nodeId: string;
      reason: string;
      run: { id: string; kind: 'FAULT_NODE' } | null;
      /**
       * The thread raised the manager's thread to its own nice value for the write (the embedded database, which
       * lives there): the nice value it had before, which the manager puts back once the decision is written; null
       * when it was not raised.
       */
      raisedFrom: number | null;
    }
  /**
   * Probes done since the last batch: answered as the node (`ok`), not (`failed`, with why), or not made because the
   * thread no longer watches a node asked for by id (`unknown`: the manager probes it itself).
   */
  | { op: 'probed'; ok: string[]; failed: [id: string, reason: string][]; unknown: string[] }
  /** Streams open now (sent a moment after the count changes, the last of a burst only). */
  | { op: 'streams'; open: number }
  | { op: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields: Record<string, unknown> };

/** What a node's watch depends on: a node whose key changed is watched anew. */
export const endpointKey = (n: NodeEndpoint): string => `${n.ip} ${n.agentPort} ${n.tls} ${n.token}`;

/** A decision the watch thread hands to the manager's health monitor. */
export type Decided = Extract<FromWatch, { op: 'decided' }>;
