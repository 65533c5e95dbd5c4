import { notInArray } from 'drizzle-orm';
import type { ManagerContext } from '../context.ts';
import { nodes, vodInventory } from '../db/schema.ts';
import { emptyMeta, MetaLoader, type VodMeta } from './meta.ts';
import { badCursor, decodeCursor, encodeCursor } from '../http/pages.ts';

export interface CatalogItem {
  name: string;
  size: number | null;
  /** 1 = most popular; null when the rank list does not name the file (it ranks last). */
  rank: number | null;
  /** VOD servers holding the file, as the loops last saw them. */
  locations: string[];
  /** Source servers holding the file. */
  sources: string[];
}

const loaders = new Map<string, MetaLoader>();

async function metaOf(ctx: ManagerContext): Promise<VodMeta> {
  const dir = ctx.env.OCDN_VOD_META_DIR;
  if (!dir) return emptyMeta();
  let loader = loaders.get(dir);
  if (!loader) loaders.set(dir, (loader = new MetaLoader(dir)));
  return loader.load();
}

/**
 * `GET /api/v1/vod/files`: the file meta joined with what every server held at the last look, by rank (unranked
 * last, by name). Paged with limit/offset, since a catalog can hold millions of files.
 */
/**
 * The catalog by rank, a page at a time: `cursor` (nextCursor of the previous page) or `offset`. The catalog is
 * built whole from the metadata and the inventories, so a cursor here is a position in that order.
 */
export async function catalog(
  ctx: ManagerContext,
  page: { limit: number; offset: number; cursor?: string | undefined },
): Promise<{ items: CatalogItem[]; nextCursor: string | null; total: number; issues: VodMeta['issues'] }> {
  const offset = page.cursor === undefined ? page.offset : positionOf(page.cursor);
  const meta = await metaOf(ctx);
  const live = await ctx.db.select({ id: nodes.id, roles: nodes.roles }).from(nodes).where(notInArray(nodes.status, ['deleting', 'delete']));
  const roles = new Map(live.map((n) => [n.id, n.roles]));
  const inventory = await ctx.db.select({ nodeId: vodInventory.nodeId, files: vodInventory.files }).from(vodInventory);
  const items = new Map<string, CatalogItem>();
  const item = (name: string) => {
    let it = items.get(name);
    if (!it) items.set(name, (it = { name, size: meta.sizes.get(name) ?? null, rank: meta.ranks.get(name) ?? null, locations: [], sources: [] }));
    return it;
  };
  for (const name of meta.ranks.keys()) item(name);
  for (const name of meta.sizes.keys()) item(name);
  for (const inv of inventory) {
    const r = roles.get(inv.nodeId);
    if (!r) continue;
    for (const [name, size] of inv.files) {
      const it = item(name);
      it.size ??= size;
      if (r.includes('vod')) it.locations.push(inv.nodeId);
      if (r.includes('vod-source')) it.sources.push(inv.nodeId);
    }
  }
  const sorted = [...items.values()].sort(
    (a, b) => (a.rank ?? Number.POSITIVE_INFINITY) - (b.rank ?? Number.POSITIVE_INFINITY) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  for (const it of sorted) {
    it.locations.sort();
    it.sources.sort();
  }
  const end = offset + page.limit;
  return { items: sorted.slice(offset, end), nextCursor: end < sorted.length ? encodeCursor([end]) : null, total: sorted.length, issues: meta.issues.slice(0, 100) };
}

function positionOf(cursor: string): number {
  const [at] = decodeCursor(cursor, 1);
  if (typeof at !== 'number' || !Number.isInteger(at) || at < 0) throw badCursor();
  return at;
}
