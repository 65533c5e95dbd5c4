// What the manager and the built-in DNS's process or thread (worker.ts) say to each other. Imported by both: no side effects.
import type { RcodeName, ZoneOptions } from './wire.ts';

/** The environment variable that carries the DNS process's configuration (JSON). */
export const WORKER_CONFIG_ENV = 'OCDN_DNS_WORKER_CONFIG';

export interface WorkerConfig extends ZoneOptions {
  host: string;
  port: number;
  /** The nice value the process asks for (OCDN_DNS_NICE), or null to leave it as it is. */
  nice: number | null;
  /** The SCHED_RR priority it asks for (OCDN_DNS_RT_PRIORITY), or null to stay with the normal scheduler. */
  rtPriority: number | null;
  /** A thread's record feed (feed.ts), always given to a thread; a process takes its messages over its IPC channel. */
  feed?: SharedArrayBuffer;
  /**
   * A thread's second feed, from the health watch thread (nodes/watch-worker.ts): `Withhold` messages, read as they
   * come rather than after the records in line, and written without the manager's thread.
   */
  withholdFeed?: SharedArrayBuffer;
  /**
   * A process that answers on the manager's sockets, handed over its IPC channel (SocketHandoff), with other such
   * processes (OCDN_DNS_ANSWERERS above 1); without it, it binds its own.
   */
  shared?: boolean;
  /** A process's Unix socket for the health watch thread's withholds (withhold-link.ts), if it has one. */
  withholdSocket?: string;
}

/** The manager's sockets, each sent with a message of its own to every answering process that shares them. */
export type SocketHandoff = { op: 'udp-socket' } | { op: 'tcp-server' };

/** Leave `ip` out of answers (ZoneAnswers.withhold): its node was just decided dead. */
export interface Withhold {
  op: 'withhold';
  ip: string;
}

/** How long an address stays withheld at most when nothing publishes it again or releases it. */
export const WITHHOLD_MAX_MS = 10 * 60_000;

export type { PriorityOutcome, SettingOutcome } from '../thread-priority.ts';
import type { PriorityOutcome } from '../thread-priority.ts';

/** Upper bounds (seconds) of the answer-time histogram. */
export const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

export type ToWorker =
  /** The records of names that changed (a name without records has none left). */
  | { op: 'set'; entries: [string, { value: string; ttl: number }[]][] }
  | { op: 'all'; entries: [string, { value: string; ttl: number }[]][]; serial: number }
  | { op: 'serial'; serial: number }
  | { op: 'stats'; id: number }
  | Withhold
  /** Answer with `ip` again where it is published: its node recovered. */
  | { op: 'release'; ip: string };

export interface DnsStats {
  byRcode: Partial<Record<RcodeName, number>>;
  truncated: number;
  dropped: number;
  /** Addresses withheld from answers now. */
  withheld: number;
  /** Cumulative counts per LATENCY_BUCKETS bound, then the sum of seconds and the count. */
  buckets: number[];
  sum: number;
  count: number;
}

/** `tid`: the answering thread's id (a process's main thread: its pid). */
export type FromWorker =
  | { op: 'listening'; port: number; tid: number; priority: PriorityOutcome }
  | { op: 'failed'; message: string }
  | { op: 'stats'; id: number; stats: DnsStats }
  /** A process started with `shared`: it listens for the manager's sockets (SocketHandoff) now. */
  | { op: 'ready' };

