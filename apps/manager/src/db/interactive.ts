import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * An admin's reads — a GET of the API, what the console asks for — marked so that the embedded database runs their
 * statements ahead of pipeline work (the interactive lane, db/pglite-lanes.ts). During a rollout of 1,000 domains
 * onto 10 agents (bench/rollout) a GET of a node waited behind the pipelines' queued statements: p50 85–95 ms, p99
 * 481–488 ms; with the lane 7–10 ms and 113–144 ms (two runs each, alternated). Writes keep their turn: a domain's
 * POST is a transaction of a dozen statements, and a rollout's POSTs would otherwise hold its pipelines back.
 */
const reads = new AsyncLocalStorage<true>();
/**
 * Reads in flight. On Node 20 an enabled AsyncLocalStorage taxes every promise of the process (promise hooks), so it
 * is enabled only while a read runs, as units of work do (db/ambient.ts).
 */
let inFlight = 0;

/**
 * Runs `fn` (and every async call made from it) as an admin's read. `fn` may return a thenable that does its work
 * when awaited (a drizzle query): it is awaited inside, where the mark holds.
 */
export async function asInteractive<T>(fn: () => PromiseLike<T>): Promise<T> {
  inFlight++;
  try {
    return await reads.run(true, async () => await fn());
  } finally {
    if (--inFlight === 0) reads.disable();
  }
}

/** True inside asInteractive(). */
export function isInteractive(): boolean {
  return reads.getStore() === true;
}
