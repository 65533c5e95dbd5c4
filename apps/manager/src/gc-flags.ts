// V8 flags the manager sets on itself at start (main.ts; dns/worker.ts when it is a process of its own).
import { setFlagsFromString } from 'node:v8';

/**
 * The young-generation collector's background tasks, off. The built-in DNS and the health watch answer from
 * real-time threads of the manager's process, and each runs a V8 heap of its own. When such a thread collected its
 * young generation, V8 handed work to node's shared pool of helper threads (parallel scavenging, sweeping the freed
 * array buffers), which run at normal priority. Handing it over signals the pool's condition variable, and glibc's
 * pthread_cond_signal waits there until the helpers signalled before have run: on two cores busy with a rollout, up
 * to 61 ms, during which the DNS thread answered nothing. A scheduler trace of the DNS thread over 60 s of a
 * 1,000 × 50 rollout on PostgreSQL: 52 waits on other threads, 276 ms in all, up to 61 ms; with these flags 12
 * waits, 36 ms, up to 13 ms (the rest: work handed to the optimizing compiler and the old generation's marker).
 * DNS answer p99 during such rollouts 1.61 / 1.87 / 2.14 ms with them against 2.38–9.43 ms without (five runs the
 * same day). The manager's own thread loses nothing measurable: its CPU per domain-node and event-loop delay stayed
 * within the runs' spread (alternated), as did its scavenge pauses when tried before.
 */
export const FOREGROUND_GC_FLAGS: readonly string[] = ['--no-parallel-scavenge', '--no-concurrent-array-buffer-sweeping'];

/** Any of those flags or a single-threaded mode, either way, with V8's `-` or `_` between words. */
const OWN_CHOICE = new RegExp(
  `^--(no-)?(${[...FOREGROUND_GC_FLAGS.map((f) => f.replace(/^--no-/, '')), 'single-threaded', 'single-threaded-gc'].map((name) => name.replaceAll('-', '[-_]')).join('|')})(=|$)`,
);

/** The flags to set, none when node was given any of them (or a single-threaded mode) on its command line. */
export function gcFlags(execArgv: readonly string[]): string[] {
  return execArgv.some((a) => OWN_CHOICE.test(a)) ? [] : [...FOREGROUND_GC_FLAGS];
}

/** Sets gcFlags(process.execArgv) before any thread starts; returns what it set. */
export function applyGcFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const flags = gcFlags(execArgv);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
