import { readFileSync } from 'node:fs';

/**
 * glibc's MALLOC_MMAP_THRESHOLD_ suits one database and not the other (README, "Running in production"). On the
 * embedded database 32 KiB keeps an idle manager 20–65 MiB smaller than 128 KiB does (PGlite's WebAssembly is compiled in pieces that
 * would otherwise stay in the allocator's arenas). On PostgreSQL that saving is not there, and below 64 KiB every
 * socket read's 64 KiB buffer is an mmap and a munmap of its own: a third more CPU in a rollout. Under jemalloc
 * (scripts/start-manager.sh, the unit) glibc's threshold plays no part. Returns what the log should say, or null when
 * the setting suits the database.
 */
export function mallocHint(database: 'pglite' | 'postgres', threshold: string | undefined, jemalloc = false): string | null {
  if (jemalloc || database !== 'postgres' || threshold === undefined || threshold === '') return null;
  const bytes = Number(threshold);
  if (!Number.isFinite(bytes) || bytes > 65_536 + 16) return null;
  return `MALLOC_MMAP_THRESHOLD_=${threshold} suits the embedded database; on PostgreSQL set MALLOC_MMAP_THRESHOLD_=131072 in manager.env (about a third less CPU under load, no more memory)`;
}

/** The young generation's size (MB per semi-space) that README "Running in production" advises on PostgreSQL. */
const POSTGRES_SEMI_SPACE_MB = 64;

/**
 * V8's young generation: at its default (16 MB per semi-space on 64-bit) a rollout on PostgreSQL collected it every few
 * megabytes, and a step's state, alive across two collections, was copied and promoted; at 64 MB the manager used
 * ~9 % less CPU per domain-node in alternated runs. On the embedded database it is left alone: an idle manager there
 * holds 8–16 MiB more with it. `flags`: node's own (process.execArgv) and NODE_OPTIONS'. Returns what the log should
 * say, or null when the setting suits the database.
 */
export function youngGenerationHint(database: 'pglite' | 'postgres', flags: readonly string[]): string | null {
  if (database !== 'postgres') return null;
  let mb: number | undefined;
  flags.forEach((f, i) => {
    const m = /^--max[-_]semi[-_]space[-_]size(?:=(\d+))?$/.exec(f);
    if (m) mb = Number(m[1] ?? flags[i + 1]);
  });
  if (mb !== undefined && mb >= POSTGRES_SEMI_SPACE_MB / 2) return null;
  return `node's young generation is ${mb === undefined ? 'at its default' : `${mb} MB`}; on PostgreSQL set NODE_OPTIONS=--max-semi-space-size=${POSTGRES_SEMI_SPACE_MB} in manager.env (~9 % less CPU under load)`;
}

/** Whether this process allocates with jemalloc (LD_PRELOAD by scripts/start-manager.sh or the unit). */
export function jemallocLoaded(maps = '/proc/self/maps'): boolean {
  try {
    return /libjemalloc\.so/.test(readFileSync(maps, 'utf8'));
  } catch {
    return false; // not Linux
  }
}
