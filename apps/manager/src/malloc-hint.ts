/**
 * glibc's MALLOC_MMAP_THRESHOLD_ suits one database and not the other (README, "Running in production"). On the
 * embedded database 32 KiB keeps an idle manager 20–65 MiB smaller than 128 KiB does (PGlite's WebAssembly is compiled in pieces that
 * would otherwise stay in the allocator's arenas). On PostgreSQL that saving is not there, and below 64 KiB every
 * socket read's 64 KiB buffer is an mmap and a munmap of its own: a third more CPU in a rollout.
 * Returns what the log should say, or null when the setting suits the database.
 */
export function mallocHint(database: 'pglite' | 'postgres', threshold: string | undefined): string | null {
  if (database !== 'postgres' || threshold === undefined || threshold === '') return null;
  const bytes = Number(threshold);
  if (!Number.isFinite(bytes) || bytes > 65_536 + 16) return null;
  return `MALLOC_MMAP_THRESHOLD_=${threshold} suits the embedded database; on PostgreSQL set MALLOC_MMAP_THRESHOLD_=131072 in manager.env (about a third less CPU under load, no more memory)`;
}
