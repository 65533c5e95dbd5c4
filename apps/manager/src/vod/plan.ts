/**
 * The pure core of VOD placement: what the file remover deletes and what the task manager queues, as functions of
 * what the servers hold, the file meta, the task queue and `now`. The loops in placement.ts only do the I/O.
 */

export interface DiskUse {
  total: number;
  free: number;
  used: number;
  usedPercent: number;
}

/** One VOD or source server as the loops saw it this cycle. */
export interface ServerView {
  nodeId: string;
  /** Passed the VOD heartbeat loop's last check. */
  healthy: boolean;
  /** name → size; null when the list could not be fetched this cycle. */
  files: Map<string, number> | null;
  df: DiskUse | null;
}

export interface QueuedTask {
  id: string;
  file: string;
  size: number;
  bytesDone: number;
  nodeId: string;
  sourceNodeId: string;
  status: 'ready' | 'working' | 'done' | 'failed';
  updatedAt: number;
}

export interface Deletion {
  nodeId: string;
  name: string;
  size: number;
  reason: 'duplicate' | 'disk';
}

const rankOf = (ranks: Map<string, number>, name: string) => ranks.get(name) ?? Number.POSITIVE_INFINITY;
const byNodeId = (a: { nodeId: string }, b: { nodeId: string }) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0);

/**
 * The file remover. First, a file on more than one VOD server stays only on the one with the most free space.
 * Then, on a server above `highPercent` used, files go from the lowest rank (unranked first) up until it is at or
 * below `lowPercent` (the copy a duplicate kept waits for the next cycle). A file with a task in progress (`busy`)
 * is never deleted.
 */
export function planRemovals(input: {
  ranks: Map<string, number>;
  vods: ServerView[];
  busy: Set<string>;
  highPercent: number;
  lowPercent: number;
}): Deletion[] {
  const { ranks, busy } = input;
  const servers = input.vods.filter((s) => s.healthy && s.files).sort(byNodeId);
  const deletions: Deletion[] = [];
  const freed = new Map<string, number>();
  const gone = new Set<string>(); // `${nodeId}\n${name}`
  // The copy a duplicate keeps is not evicted in the same cycle: that would leave the file on no server.
  const kept = new Set<string>();

  const holders = new Map<string, ServerView[]>();
  for (const s of servers) {
    for (const name of s.files!.keys()) {
      const list = holders.get(name);
      if (list) list.push(s);
      else holders.set(name, [s]);
    }
  }
  for (const [name, list] of holders) {
    if (list.length < 2 || busy.has(name)) continue;
    let keep = list[0]!;
    for (const s of list) if ((s.df?.free ?? -1) > (keep.df?.free ?? -1)) keep = s;
    kept.add(`${keep.nodeId}\n${name}`);
    for (const s of list) {
      if (s === keep) continue;
      const size = s.files!.get(name)!;
      deletions.push({ nodeId: s.nodeId, name, size, reason: 'duplicate' });
      freed.set(s.nodeId, (freed.get(s.nodeId) ?? 0) + size);
      gone.add(`${s.nodeId}\n${name}`);
    }
  }

  for (const s of servers) {
    if (!s.df || s.df.total <= 0) continue;
    const pct = (used: number) => (used / s.df!.total) * 100;
    let used = s.df.used - (freed.get(s.nodeId) ?? 0);
    if (pct(used) <= input.highPercent) continue;
    const candidates = [...s.files!]
      .filter(([name]) => !busy.has(name) && !gone.has(`${s.nodeId}\n${name}`) && !kept.has(`${s.nodeId}\n${name}`))
      .sort(([a], [b]) => rankOf(ranks, b) - rankOf(ranks, a) || (a < b ? -1 : a > b ? 1 : 0));
    for (const [name, size] of candidates) {
      if (pct(used) <= input.lowPercent) break;
      deletions.push({ nodeId: s.nodeId, name, size, reason: 'disk' });
      used -= size;
    }
  }
  return deletions;
}

export type RemovalReason = 'done' | 'failed' | 'timeout' | 'heartbeat' | 'source heartbeat';

export interface NewTask {
  file: string;
  size: number;
  nodeId: string;
  sourceNodeId: string;
}

/** The ranked names from rank 1 down (ties by name). Built once per meta load. */
export function rankedOrder(ranks: Map<string, number>): string[] {
  const entries = [...ranks];
  entries.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return entries.map((e) => e[0]);
}

/** Files the sources hold that the rank list does not name: they rank last, by name. */
export function unrankedOnSources(ranks: Map<string, number>, sources: ServerView[]): string[] {
  const extra = new Set<string>();
  for (const s of sources) if (s.files) for (const name of s.files.keys()) if (!ranks.has(name)) extra.add(name);
  return [...extra].sort();
}

/**
 * The task manager. Cleaning: a task leaves the queue when it is done or failed, when it has not changed for
 * `timeoutMs`, or when its VOD server (or its source) failed the heartbeat. Creating: from the highest rank down, a
 * file that is not queued, not on any VOD server and present on a healthy source gets a task, on the source with
 * the fewest tasks and the healthy VOD server with the most room for it (free space, and staying at or below
 * `highPercent`, so the remover does not take it away again), until every source has `concurrency` tasks.
 */
export function planTasks(input: {
  order: string[];
  /** Names after `order`, asked for only when the ranked ones run out before the sources are full. */
  unranked?: () => string[];
  sizes: Map<string, number>;
  tasks: QueuedTask[];
  vods: ServerView[];
  sources: ServerView[];
  now: number;
  timeoutMs: number;
  concurrency: number;
  highPercent: number;
}): { remove: { id: string; reason: RemovalReason }[]; create: NewTask[] } {
  const healthy = new Set([...input.vods, ...input.sources].filter((s) => s.healthy).map((s) => s.nodeId));
  const remove: { id: string; reason: RemovalReason }[] = [];
  const kept: QueuedTask[] = [];
  for (const t of input.tasks) {
    const reason: RemovalReason | null =
      t.status === 'done' ? 'done'
      : t.status === 'failed' ? 'failed'
      : input.now - t.updatedAt >= input.timeoutMs ? 'timeout'
      : !healthy.has(t.nodeId) ? 'heartbeat'
      : !healthy.has(t.sourceNodeId) ? 'source heartbeat'
      : null;
    if (reason) remove.push({ id: t.id, reason });
    else kept.push(t);
  }

  const perSource = new Map<string, number>();
  const reserved = new Map<string, number>();
  const queued = new Set<string>();
  for (const t of kept) {
    perSource.set(t.sourceNodeId, (perSource.get(t.sourceNodeId) ?? 0) + 1);
    reserved.set(t.nodeId, (reserved.get(t.nodeId) ?? 0) + Math.max(0, t.size - t.bytesDone));
    queued.add(t.file);
  }
  const sources = input.sources.filter((s) => s.healthy && s.files).sort(byNodeId);
  const vods = input.vods.filter((s) => s.healthy && s.files && s.df).sort(byNodeId);
  const onVod = new Set<string>();
  for (const s of input.vods) if (s.files) for (const name of s.files.keys()) onVod.add(name);

  const create: NewTask[] = [];
  if (vods.length === 0 || sources.length === 0) return { remove, create };
  let full = sources.filter((s) => (perSource.get(s.nodeId) ?? 0) >= input.concurrency).length;
  const consider = (name: string): void => {
    if (queued.has(name) || onVod.has(name)) return;
    let source: ServerView | undefined;
    let sourceLoad = Number.POSITIVE_INFINITY;
    for (const s of sources) {
      const n = perSource.get(s.nodeId) ?? 0;
      if (n < input.concurrency && n < sourceLoad && s.files!.has(name)) {
        source = s;
        sourceLoad = n;
      }
    }
    if (!source) return;
    const size = source.files!.get(name) ?? input.sizes.get(name) ?? 0;
    let target: ServerView | undefined;
    let targetRoom = -1;
    for (const v of vods) {
      const r = reserved.get(v.nodeId) ?? 0;
      const room = Math.min(v.df!.free - r, (input.highPercent / 100) * v.df!.total - v.df!.used - r);
      if (room >= size && room > targetRoom) {
        target = v;
        targetRoom = room;
      }
    }
    if (!target) return;
    create.push({ file: name, size, nodeId: target.nodeId, sourceNodeId: source.nodeId });
    perSource.set(source.nodeId, sourceLoad + 1);
    if (sourceLoad + 1 >= input.concurrency) full++;
    reserved.set(target.nodeId, (reserved.get(target.nodeId) ?? 0) + size);
    queued.add(name);
  };
  for (const name of input.order) {
    if (full >= sources.length) return { remove, create };
    consider(name);
  }
  if (input.unranked && full < sources.length) {
    for (const name of input.unranked()) {
      if (full >= sources.length) break;
      consider(name);
    }
  }
  return { remove, create };
}
