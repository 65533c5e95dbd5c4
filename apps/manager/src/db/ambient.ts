import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from './client.ts';

/**
 * The request's transaction, held for the code a request runs (an admin API change and its audit entry commit
 * together or not at all).
 *
 * `ambient(db)` is the `Db` every part of the manager holds. Outside a unit of work it is the database itself;
 * inside `unitOfWork(...)` — and in every async call made from there — it is that unit's transaction, so the
 * services' own `ctx.db.transaction(...)` calls run in it (no savepoint: a failure rolls the whole unit back) and
 * their reads see its writes. Effects that
 * must not happen unless the unit commits (waking the pipeline engine, pushing forwarding state) are handed to
 * `afterCommit`, which runs them after the commit, outside the unit, and drops them on rollback.
 *
 * One sharp edge: anything bound to the database itself rather than to this proxy (a prepared statement, pg-boss's
 * executor) and awaited inside a unit waits on PGlite for the one connection the unit holds — forever. Such work
 * goes through afterCommit, or checks inUnitOfWork() (see access/tokens.ts).
 */
interface Unit {
  tx: Db | null;
  after: (() => unknown)[];
  /** Statements sent with the commit (withCommit). */
  sent: Promise<unknown>[];
}

const units = new AsyncLocalStorage<Unit>();
/**
 * Units in flight. On Node 20 an enabled AsyncLocalStorage taxes every promise of the process (promise hooks), so
 * it is enabled only while a unit runs and disabled again when the last one ends (outside a unit nothing reads it).
 */
let inFlight = 0;

/** A `Db` that resolves to the current unit's transaction while one is open, and to `base` otherwise. */
export function ambient(base: Db): Db {
  return new Proxy(base, {
    get(target, prop) {
      const tx = units.getStore()?.tx;
      // Inside a unit, a service's own transaction is the unit itself: any error rolls the whole unit back, so a
      // savepoint would only cost two round trips.
      if (tx && prop === 'transaction') return (fn: (t: Db) => Promise<unknown>) => fn(tx);
      const db = tx ?? target;
      const value = Reflect.get(db, prop, db) as unknown;
      return typeof value === 'function' ? value.bind(db) : value;
    },
  });
}

/**
 * Runs `fn` in one transaction of `base` (the unwrapped database) that every `ambient` Db joins. The result is
 * returned after the commit and after the `afterCommit` callbacks were started; a throw rolls back and drops them.
 */
export async function unitOfWork<T>(base: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  const unit: Unit = { tx: null, after: [], sent: [] };
  let result: T;
  inFlight++;
  try {
    result = await base.transaction(async (tx) => {
      unit.tx = tx as unknown as Db;
      return units.run(unit, () => fn(unit.tx!));
    });
  } catch (err) {
    // A statement sent with the commit that failed is why the commit failed: its error is the one to report.
    throw (await firstFailure(unit.sent)) ?? err;
  } finally {
    unit.tx = null; // work started inside and still running falls back to the database itself
    if (--inFlight === 0) units.disable();
  }
  // A statement sent with the commit that failed made PostgreSQL roll the transaction back (the COMMIT answered
  // ROLLBACK): the unit failed, its effects are dropped.
  await Promise.all(unit.sent);
  // Outside the unit: a callback that starts long work must not carry the finished unit along.
  units.exit(() => {
    for (const cb of unit.after) {
      try {
        cb();
      } catch {
        // callbacks log their own failures; one failing must not keep the others from running
      }
    }
  });
  return result;
}

async function firstFailure(sent: Promise<unknown>[]): Promise<unknown> {
  for (const p of sent) {
    const failed = await p.then(
      () => undefined,
      (err: unknown) => err ?? new Error('a statement sent with the commit failed'),
    );
    if (failed !== undefined) return failed;
  }
  return undefined;
}

/**
 * Sends the last statement of a unit without waiting for its answer, so that it travels with the COMMIT (one round
 * trip fewer on PostgreSQL, which pipelines them on the unit's connection). Should it fail, the transaction rolls
 * back and unitOfWork throws its error. Call it as the unit's callback ends.
 */
export function withCommit(statement: PromiseLike<unknown>): void {
  const unit = units.getStore();
  if (!unit?.tx) throw new Error('withCommit outside a unit of work');
  const sent = Promise.resolve(statement);
  sent.catch(() => {}); // observed by unitOfWork; no unhandled rejection meanwhile
  unit.sent.push(sent);
}

/** Runs `fn` once the current unit of work commits (at once when there is none). */
export function afterCommit(fn: () => unknown): void {
  const unit = units.getStore();
  if (unit?.tx) unit.after.push(fn);
  else fn();
}

/** True inside an open unit of work. */
export function inUnitOfWork(): boolean {
  return Boolean(units.getStore()?.tx);
}
