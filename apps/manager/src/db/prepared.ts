import type { Sql } from 'postgres';

/**
 * Makes drizzle's statements named prepared statements of postgres.js (its `prepare` option, which postgres.js's own
 * tagged templates use by default and its `unsafe` — what drizzle calls — does not). Unprepared, every statement with
 * parameters is sent in two steps: Parse/Describe, a wait for the parameter types, then Bind/Execute — a round trip
 * of its own, and nothing else goes down the connection meanwhile (no pipelining). Prepared once per connection, the
 * next run of the same SQL is one Bind/Execute that pipelines with its neighbours. (A pooler in transaction mode,
 * such as PgBouncer before 1.21, does not keep named statements: point DATABASE_URL at PostgreSQL or a pooler that does.)
 *
 * A transaction (`begin`) and a savepoint hand their callback an `sql` of their own, whose `unsafe` is postgres.js's
 * again: those are wrapped too, or every statement of every transaction would pay the extra round trip.
 */
export function preparedStatements<T extends Pick<Sql, 'unsafe'>>(sql: T): T {
  const unsafe = sql.unsafe;
  sql.unsafe = ((query: string, args?: unknown[], options?: object) => unsafe(query, args as never, { prepare: true, ...options })) as Sql['unsafe'];
  const scoped = sql as unknown as { begin?: Scope; savepoint?: Scope };
  for (const name of ['begin', 'savepoint'] as const) {
    const open = scoped[name];
    if (typeof open !== 'function') continue;
    // begin(options?, fn) and savepoint(name?, fn): the callback is the last argument.
    scoped[name] = (first: unknown, fn?: unknown) => {
      const wrap = (cb: unknown) => (inner: Pick<Sql, 'unsafe'>) => (cb as (s: unknown) => unknown)(preparedStatements(inner));
      return fn === undefined ? open.call(sql, wrap(first)) : open.call(sql, first, wrap(fn));
    };
  }
  return sql;
}

type Scope = (first: unknown, fn?: unknown) => Promise<unknown>;
