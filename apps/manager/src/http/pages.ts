import { z } from '@hono/zod-openapi';
import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import { invalidField } from '../errors.ts';
import { QueryInt } from './fields.ts';

/**
 * Lists at fleet size: every list route takes `limit` and `cursor` and answers `{items, nextCursor}`. Without a
 * cursor it gives the first page; `nextCursor` is null on the last one. Pages follow the list's own order by its
 * unique key (keyset pagination): a page is found by an index, never by counting rows to skip, and an item added or
 * removed meanwhile never shifts another one into or out of the next page.
 */
export const PAGE_DEFAULT = 100;
export const PAGE_MAX = 1000;

export const PageQuery = {
  limit: QueryInt(1, PAGE_MAX).default(PAGE_DEFAULT).openapi({ description: `items per page (default ${PAGE_DEFAULT}, at most ${PAGE_MAX})` }),
  cursor: z.string().max(1024).regex(/^[A-Za-z0-9_-]+$/, 'a cursor from nextCursor').optional().openapi({ description: 'nextCursor of the previous page' }),
};

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const pageOf = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

type Key = (string | number)[];

const NOT_OURS = 'not a cursor this API gave out (use nextCursor of the previous page)';

/** The 400 for a cursor the API did not give out. */
export const badCursor = () => invalidField('cursor', NOT_OURS);

export function encodeCursor(key: Key): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The key a cursor carries; a 400 naming `cursor` for anything this API did not give out. */
export function decodeCursor(cursor: string, arity: number): Key {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = null;
  }
  if (!Array.isArray(key) || key.length !== arity || !key.every((k) => typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k)))) {
    throw badCursor();
  }
  return key as Key;
}

/**
 * A creation time to the millisecond, for ordering: PostgreSQL keeps microseconds, a cursor (a JavaScript Date) does
 * not, and the order must be one the cursor can name.
 */
export const toMs = (column: SQLWrapper): SQL => sql`date_trunc('milliseconds', ${column})`;

/** The key of a row in a list ordered by creation time, then id. */
export const timeKey = (at: Date, id: string): Key => [at.toISOString(), id];

/** The rows after a `timeKey` cursor in a list ordered by `(toMs(time), id)`. */
export function afterTime(time: SQLWrapper, id: SQLWrapper, cursor: string, order: 'asc' | 'desc' = 'asc'): SQL {
  const [at, key] = decodeCursor(cursor, 2);
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) throw badCursor();
  return after([toMs(time), id], [at, String(key)], order);
}

/** `(a, b) > (x, y)` (or `<` for a list in descending order): the rows after the cursor's key. */
export function after(columns: SQLWrapper[], key: Key, order: 'asc' | 'desc' = 'asc'): SQL {
  const cols = sql.join(columns.map((c) => sql`${c}`), sql`, `);
  const vals = sql.join(key.map((v) => sql`${v}`), sql`, `);
  return order === 'asc' ? sql`(${cols}) > (${vals})` : sql`(${cols}) < (${vals})`;
}

/** Rows read with `limit + 1`: the page, and the cursor of its last row when there are more. */
export function pageOfRows<R>(rows: R[], limit: number, keyOf: (row: R) => Key): { rows: R[]; nextCursor: string | null } {
  if (rows.length <= limit) return { rows, nextCursor: null };
  const page = rows.slice(0, limit);
  return { rows: page, nextCursor: encodeCursor(keyOf(page[page.length - 1]!)) };
}

/** A page of a small list held whole (views, groups, schedulers): in the order of `keyOf`, after the cursor's key. */
export function pageInMemory<T>(items: T[], keyOf: (item: T) => string, q: PageRequest): Page<T> {
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const from = q.cursor === undefined ? '' : String(decodeCursor(q.cursor, 1)[0]);
  const rest = q.cursor === undefined ? sorted : sorted.filter((item) => keyOf(item) > from);
  const { rows, nextCursor } = pageOfRows(rest, q.limit, (item) => [keyOf(item)]);
  return { items: rows, nextCursor };
}
