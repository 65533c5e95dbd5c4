import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.ts';

/** The driver drizzle runs on (its session's client): postgres.js (`unsafe`) or PGlite and its transactions (`query`). */
interface Driver {
  unsafe?(text: string, params: unknown[], options?: object): PromiseLike<unknown>;
  query?(text: string, params: unknown[]): Promise<unknown>;
}

/**
 * Runs one statement, written out with `$n` parameters, on the driver under `db` — the database, or a transaction
 * (inside a unit of work, the unit's) — and returns its rows as the driver gives them. For the statements that run
 * with every request or every run: drizzle's query building (SQL chunks walked, every value checked for what kind of
 * entity it is) costs more than such a statement itself — 90–760 µs a statement in a rollout, where the statement
 * took less. Name the columns as the caller wants them (`sub_domain as "subDomain"`) and keep to types both drivers
 * give alike: text, integers, booleans, json (parsed); not timestamps (postgres.js under drizzle gives their text,
 * PGlite a Date) — select `extract(epoch from t) * 1000` instead.
 */
export async function rawRows<T extends object>(db: Pick<Db, 'execute'>, text: string, params: unknown[]): Promise<T[]> {
  const driver = (db as unknown as { session?: { client?: Driver } }).session?.client;
  if (driver?.unsafe) return (await driver.unsafe(text, params, { prepare: true })) as T[];
  if (driver?.query) return ((await driver.query(text, params)) as { rows: T[] }).rows;
  throw new Error('rawRows: the database under drizzle is neither postgres.js nor PGlite');
}

/** rawRows for a statement whose rows nobody wants. */
export async function rawStatement(db: Pick<Db, 'execute'>, text: string, params: unknown[]): Promise<void> {
  await rawRows(db, text, params);
}

/**
 * `ids` as one JSON parameter, for `id = ${anyOfIds(ids)}`. `= any(array(...))` and not `in (select ...)`: the
 * planner cannot tell how many ids a JSON parameter carries, and for `in` it joined against the whole table — every
 * batch of the step log read every run ever kept (2,000 runs: 1.5–7 ms a batch on PGlite, with or without
 * statistics). An array is looked up id by id in the index.
 */
export function anyOfIds(ids: readonly string[]): SQL {
  return sql`any(array(select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)))`;
}

/** anyOfIds for a statement written out: `id = ${anyOfIdsAt(1)}` with `JSON.stringify(ids)` as parameter $1. */
export function anyOfIdsAt(param: number): string {
  return `any(array(select jsonb_array_elements_text($${param}::jsonb)))`;
}
