import { PostgresJsSession, PostgresJsTransaction } from 'drizzle-orm/postgres-js';
import type { ReservedSql, Sql } from 'postgres';
import type { Db } from './client.ts';
import { sqlState } from './errors.ts';

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

/** A connection that failed this way is gone: it must not go back to the pool. */
const GONE = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

type Savepointable = ReservedSql & { savepoint?: (fn: (sql: ReservedSql) => Promise<unknown>) => Promise<unknown> };

/**
 * Transactions whose `BEGIN` travels with their first statement (PostgreSQL).
 *
 * postgres.js's `sql.begin` sends `BEGIN` and waits for its answer before the transaction's first statement is even
 * built: one round trip per transaction that carries nothing. Here the transaction reserves a connection, sends
 * `BEGIN` without waiting, and lets the body's statements follow it down the same connection (postgres.js pipelines
 * them), so a transaction costs the round trips of its own statements. `COMMIT` waits for everything sent before
 * it; a `COMMIT` that PostgreSQL answers with `ROLLBACK` (an earlier statement failed, its error unobserved) is an
 * error here, never a silent success. Nested transactions are savepoints, as with drizzle's own.
 *
 * Installed on the drizzle instance's session: every `db.transaction(fn)` without options takes this path; one with
 * options (isolation level, read only) keeps drizzle's.
 */
export function pipelineTransactions(db: Db, client: Sql): void {
  const session = (db as unknown as { session: PostgresJsSession<any, any, any> }).session;
  const drizzleTransaction = session.transaction.bind(session);
  const { dialect, schema, options } = session as unknown as { dialect: any; schema: any; options: any };
  (session as { transaction: unknown }).transaction = (fn: (tx: unknown) => Promise<unknown>, config?: unknown) =>
    config ? drizzleTransaction(fn as never, config as never) : run(fn);

  async function run<T>(fn: (tx: unknown) => Promise<T>): Promise<T> {
    const conn = preparedStatements((await client.reserve()) as Savepointable);
    const txSession = new PostgresJsSession(conn as never, dialect, schema, options);
    let savepoints = 0;
    conn.savepoint = async (body) => {
      const name = `ocdn_sp${savepoints++}`;
      await conn.unsafe(`savepoint ${name}`);
      try {
        const result = await body(conn);
        await conn.unsafe(`release savepoint ${name}`);
        return result;
      } catch (err) {
        await conn.unsafe(`rollback to savepoint ${name}`);
        throw err;
      }
    };
    const begun = conn.unsafe('begin');
    begun.catch(() => {}); // its failure fails the statements behind it; observed below
    let gone = false;
    try {
      const tx = new PostgresJsTransaction(dialect, txSession, schema);
      const result = await fn(tx);
      await begun;
      const done = await conn.unsafe('commit');
      if (done.command !== 'COMMIT') throw new Error(`the transaction was rolled back by PostgreSQL (${done.command}): one of its statements failed`);
      return result;
    } catch (err) {
      gone = GONE.has(sqlState(err) ?? '');
      if (!gone) {
        await conn.unsafe('rollback').catch((e: unknown) => {
          gone = GONE.has(sqlState(e) ?? '');
        });
      }
      throw err;
    } finally {
      if (!gone) conn.release();
    }
  }
}
