// What the main thread and the built-in DNS's thread (worker.ts) say to each other. Imported by both: no side effects.
import type { RcodeName, ZoneOptions } from './wire.ts';

export interface WorkerConfig extends ZoneOptions {
  host: string;
  port: number;
}

/** Upper bounds (seconds) of the answer-time histogram. */
export const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];

export type ToWorker =
  | { op: 'set'; name: string; records: { value: string; ttl: number }[] }
  | { op: 'all'; entries: [string, { value: string; ttl: number }[]][]; serial: number }
  | { op: 'serial'; serial: number }
  | { op: 'stats'; id: number };

export interface DnsStats {
  byRcode: Partial<Record<RcodeName, number>>;
  truncated: number;
  dropped: number;
  /** Cumulative counts per LATENCY_BUCKETS bound, then the sum of seconds and the count. */
  buckets: number[];
  sum: number;
  count: number;
}

export type FromWorker = { op: 'listening'; port: number } | { op: 'failed'; message: string } | { op: 'stats'; id: number; stats: DnsStats };

