import type { PGlite } from '@electric-sql/pglite';
import { isInteractive } from './interactive.ts';

type Op = 'query' | 'exec' | 'transaction';
const OPS: readonly Op[] = ['query', 'exec', 'transaction'];

/**
 * Whose operation it is: `urgent` (a node found dead), `interactive` (an admin's read: a GET of the API or the
 * console, db/interactive.ts), `normal` (the rest: pipeline work, writes). The next to go is the first waiting of
 * the three, in that order.
 */
export type Lane = 'urgent' | 'interactive' | 'normal';

/**
 * Interactive operations that may go one after another while normal ones wait: a console polling hard must not hold
 * pipeline work back for long (each is one read, a millisecond or so).
 */
const INTERACTIVE_RUN = 8;

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
  private readonly waitingIn: Record<Lane, (() => void)[]> = { urgent: [], interactive: [], normal: [] };
  /** Interactive operations started in a row while a normal one waited. */
  private interactiveInARow = 0;
  private readonly hooks = new Set<() => void>();

  run<T>(lane: Lane, fn: () => Promise<T>): Promise<T> {
    const turn = new Promise<void>((go) => {
      // A normal or interactive operation goes at once only when none has run since the last turn of the event
      // loop; an urgent one whenever none is under way.
      if (!this.running && (lane === 'urgent' || !this.scheduled)) {
        this.running = true;
        go();
      } else this.waitingIn[lane].push(go);
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
    return this.waitingIn.urgent.length + this.waitingIn.interactive.length + this.waitingIn.normal.length;
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
    const go = this.waitingIn.urgent.shift() ?? this.pickInteractiveOrNormal();
    if (!go) return;
    this.running = true;
    go();
  };

  /** The next interactive operation, unless INTERACTIVE_RUN of them went in a row while a normal one waited. */
  private pickInteractiveOrNormal(): (() => void) | undefined {
    const { interactive, normal } = this.waitingIn;
    if (interactive.length > 0 && (normal.length === 0 || this.interactiveInARow < INTERACTIVE_RUN)) {
      this.interactiveInARow = normal.length > 0 ? this.interactiveInARow + 1 : 0;
      return interactive.shift();
    }
    this.interactiveInARow = 0;
    return normal.shift();
  }
}

/**
 * Puts `pg`'s query, exec and transaction behind a Lanes gate (the normal lane, or the interactive one when asked for
 * in an admin's read: isInteractive()) and returns a client whose same methods take the urgent lane. Both run
 * PGlite's own methods on `pg` itself (they check their receiver). Code inside a transaction uses the transaction's
 * own client, which the gate does not see; calling `pg` there would wait for the transaction to end, as it already did
 * with PGlite's locks.
 */
export function withUrgentLane(pg: PGlite, lanes = new Lanes()): PGlite {
  const urgent = Object.create(pg) as PGlite;
  for (const op of OPS) {
    const own = (pg[op] as (...args: unknown[]) => Promise<unknown>).bind(pg);
    (pg as unknown as Record<Op, unknown>)[op] = (...args: unknown[]) => lanes.run(isInteractive() ? 'interactive' : 'normal', () => own(...args));
    (urgent as unknown as Record<Op, unknown>)[op] = (...args: unknown[]) => lanes.run('urgent', () => own(...args));
  }
  return urgent;
}
