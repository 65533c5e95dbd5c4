import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.ts';

/** The driver drizzle runs on (its session's client): postgres.js (`unsafe`) or PGlite and its transactions (`query`). */
interface Driver {
  unsafe?(text: string, params: unknown[], options?: object): PromiseLike<unknown>;
  query?(text: string, params: unknown[]): Promise<unknown>;
}

/**
 * Runs one statement, written out with `$n` parameters, on the driver under `db` — the database, or a transaction
 * (inside a unit of work, the unit's). For the few statements that run with every request: drizzle's query building
 * (SQL chunks walked, every value checked for what kind of entity it is) costs more than such a statement itself.
 * The result is the driver's own; callers here want none.
 */
export async function rawStatement(db: Db, text: string, params: unknown[]): Promise<void> {
  const driver = (db as unknown as { session?: { client?: Driver } }).session?.client;
  if (driver?.unsafe) await driver.unsafe(text, params, { prepare: true });
  else if (driver?.query) await driver.query(text, params);
  else throw new Error('rawStatement: the database under drizzle is neither postgres.js nor PGlite');
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
