import type { Logger } from './log.ts';

/**
 * Runs `fn` every `ms` without keeping the process alive; a failed run is logged as a warning (`what` failed) and
 * the next one comes on time. Returns the function that stops it.
 */
export function every(ms: number, fn: () => Promise<unknown>, log: Logger, what: string): () => void {
  const timer = setInterval(() => void fn().catch((err: unknown) => log.warn({ err: (err as Error).message }, `${what} failed`)), ms);
  timer.unref();
  return () => clearInterval(timer);
}
