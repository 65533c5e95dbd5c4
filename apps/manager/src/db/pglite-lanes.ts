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
  private busy = false;
  private readonly urgent: (() => void)[] = [];
  private readonly normal: (() => void)[] = [];

  run<T>(urgent: boolean, fn: () => Promise<T>): Promise<T> {
    const turn = new Promise<void>((go) => {
      if (!this.busy) {
        this.busy = true;
        go();
      } else (urgent ? this.urgent : this.normal).push(go);
    });
    return turn.then(fn).finally(() => this.next());
  }

  /** Operations waiting for their turn (for tests). */
  get waiting(): number {
    return this.urgent.length + this.normal.length;
  }

  private next(): void {
    // On the next turn of the event loop, not in this microtask: PGlite answers synchronously, so a queue of
    // operations handed on from one to the next ran as one chain of microtasks, and sockets, timers and HTTP requests
    // waited until the whole queue (refilled by the steps it finished) was empty.
    if (this.waiting > 0) setImmediate(this.startNext);
    else this.busy = false;
  }

  /**
   * The next operation is picked when its turn comes, not when it was scheduled: an urgent one asked for in between
   * (a node found dead, in the same turn's I/O) goes first instead of a turn later, behind a normal one.
   */
  private readonly startNext = (): void => {
    (this.urgent.shift() ?? this.normal.shift())!();
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
