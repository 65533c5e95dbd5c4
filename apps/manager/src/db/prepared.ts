import type { Sql } from 'postgres';

/**
 * Makes drizzle's statements named prepared statements of postgres.js (its `prepare` option, which postgres.js's own
 * tagged templates use by default and its `unsafe` — what drizzle calls — does not). Unprepared, every statement with
 * parameters is sent in two steps: Parse/Describe, a wait for the parameter types, then Bind/Execute — a round trip
 * of its own, and nothing else goes down the connection meanwhile (no pipelining). Prepared once per connection, the
 * next run of the same SQL is one Bind/Execute that pipelines with its neighbours. (A pooler in transaction mode,
 * such as PgBouncer before 1.21, does not keep named statements: point DATABASE_URL at PostgreSQL or a pooler that does.)
 */
export function preparedStatements<T extends Pick<Sql, 'unsafe'>>(sql: T): T {
  const unsafe = sql.unsafe;
  sql.unsafe = ((query: string, args?: unknown[], options?: object) => unsafe(query, args as never, { prepare: true, ...options })) as Sql['unsafe'];
  return sql;
}
