import type { PGlite } from '@electric-sql/pglite';

type Op = 'query' | 'exec' | 'transaction';
const OPS: readonly Op[] = ['query', 'exec', 'transaction'];

/**
 * PGlite runs one statement or transaction at a time, in the order they were asked for (its own locks). During a
 * rollout hundreds of the pipelines' statements wait there, and the health monitor's write that a node is dead
 * (database.urgent) waited behind all of them: a killed node took 5–7 s to go `fault` during a rollout of 100
 * domains, 46 ms when idle. The gate here comes first: it lets one operation through to PGlite at a time, as PGlite
 * would, and the next to go is an urgent one if any waits. An operation is a statement or a whole transaction, so an
 * urgent one waits for at most one. Each operation starts on a turn of the event loop of its own (see next()): with
 * that, the same rollout took half the time and half the manager's CPU.
 */
export class Lanes {
  /** An operation is under way. */
  private running = false;
  /** The next operation's turn is scheduled (startNext, on the next turn of the event loop). */
  private scheduled = false;
  private readonly urgent: (() => void)[] = [];
  private readonly normal: (() => void)[] = [];
  private readonly hooks = new Set<() => void>();

  run<T>(urgent: boolean, fn: () => Promise<T>): Promise<T> {
    const turn = new Promise<void>((go) => {
      // A normal operation goes at once only when none has run since the last turn of the event loop; an urgent one
      // whenever none is under way.
      if (!this.running && (urgent || !this.scheduled)) {
        this.running = true;
        go();
      } else (urgent ? this.urgent : this.normal).push(go);
    });
    return turn.then(fn).finally(() => this.next());
  }

  /**
   * Calls `hook` each time an operation ends, before anything else runs: an urgent operation it asks for (in the
   * microtasks it queues) starts there, ahead of the code the operation's answer sets going and the rest of the turn.
   * It is called often and must be cheap, and it reports its own errors. Returns a function that removes it.
   */
  between(hook: () => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Operations waiting for their turn (for tests). */
  get waiting(): number {
    return this.urgent.length + this.normal.length;
  }

  private next(): void {
    this.running = false;
    // On the next turn of the event loop, not in this microtask: PGlite answers synchronously, so a queue of
    // operations handed on from one to the next ran as one chain of microtasks, and sockets, timers and HTTP requests
    // waited until the whole queue (refilled by the steps it finished) was empty. Also when none waits yet: the
    // code this operation's answer sets going asks for the next one a few microtasks from now, and that one starting
    // at once made the same chain (a step's outcome written, the next step's read, its outcome written, ...: turns of
    // 1-1.7 s during a rollout on the embedded database, and once 13 s).
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.startNext);
    }
    for (const hook of this.hooks) {
      try {
        hook();
      } catch (err) {
        // Not the operation's error, nor a reason to stop: a hook reports its own failures (this is the last resort).
        process.emitWarning(`a hook between operations failed: ${err instanceof Error ? err.stack : String(err)}`, 'LanesHookWarning');
      }
    }
  }

  /**
   * The next operation is picked when its turn comes, not when it was scheduled: an urgent one asked for in between
   * (a node found dead, in the same turn's I/O) has gone first already, or goes now instead of a turn later.
   */
  private readonly startNext = (): void => {
    this.scheduled = false;
    if (this.running) return; // an urgent one went meanwhile; its end schedules the next
    const go = this.urgent.shift() ?? this.normal.shift();
    if (!go) return;
    this.running = true;
    go();
  };
}

/**
 * Puts `pg`'s query, exec and transaction behind a Lanes gate (the normal lane) and returns a client whose same
 * methods take the urgent lane. Both run PGlite's own methods on `pg` itself (they check their receiver). Code inside
 * a transaction uses the transaction's own client, which the gate does not see; calling `pg` there would wait for the
 * transaction to end, as it already did with PGlite's locks.
 */
export function withUrgentLane(pg: PGlite, lanes = new Lanes()): PGlite {
  const urgent = Object.create(pg) as PGlite;
  for (const op of OPS) {
    const own = (pg[op] as (...args: unknown[]) => Promise<unknown>).bind(pg);
    (pg as unknown as Record<Op, unknown>)[op] = (...args: unknown[]) => lanes.run(false, () => own(...args));
    (urgent as unknown as Record<Op, unknown>)[op] = (...args: unknown[]) => lanes.run(true, () => own(...args));
  }
  return urgent;
}
