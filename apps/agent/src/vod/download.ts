import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DownloadError, Transfer, type TransferOptions, type TransferResult } from './transfer.ts';

export { DownloadError } from './transfer.ts';
export { TokenBucket } from './token-bucket.ts';

export interface DownloadOptions extends TransferOptions {
  url: string;
  dir: string;
  name: string;
}

export type DownloadResult = TransferResult;

/** Where a download in progress keeps its bytes and the validator they belong to (hidden names: never listed). */
export const partPath = (dir: string, name: string) => join(dir, `.${name}.part`);
const statePath = (dir: string, name: string) => join(dir, `.${name}.part.json`);

/** Removes what an unfinished download left. */
export async function discardPartial(dir: string, name: string): Promise<void> {
  await rm(partPath(dir, name), { force: true });
  await rm(statePath(dir, name), { force: true });
}

/** Bytes an interrupted download of `name` has on disk (0 when none, or when they cannot be resumed). */
export async function partialBytes(dir: string, name: string): Promise<number> {
  const st = await stat(partPath(dir, name)).catch(() => null);
  return st?.size ?? 0;
}

/** An entity tag as RFC 9110 writes it; anything else read back from disk is not sent in a request header. */
const ENTITY_TAG = /^(?:W\/)?"[\x21\x23-\x7e]*"$/;

/**
 * Downloads `url` into `<dir>/<name>`: into a hidden temp file in the same directory first, resuming the bytes an
 * earlier attempt left (Range + If-Range, so a file that changed on the source is fetched whole again), checking
 * the length and the sha256 the source states in `Repr-Digest`, then renaming into place. On a mismatch the
 * partial file is removed; on an abort or a lost connection it is kept for the next attempt.
 */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const { dir, name, signal } = opts;
  signal.throwIfAborted();
  const url = new URL(opts.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DownloadError(`source URL must be http: or https:, not ${url.protocol}`);
  const part = partPath(dir, name);
  const state = statePath(dir, name);
  let offset = await partialBytes(dir, name);
  let etag: string | null = null;
  if (offset > 0) {
    const saved = await readFile(state, 'utf8').then((t) => JSON.parse(t) as { etag?: unknown }, () => null);
    etag = typeof saved?.etag === 'string' && ENTITY_TAG.test(saved.etag) ? saved.etag : null;
    if (!etag) {
      await discardPartial(dir, name);
      offset = 0;
    }
  }
  const fh = await open(part, offset > 0 ? 'r+' : 'w');
  let result: DownloadResult;
  try {
    result = await new Transfer(opts, url, fh, part, state, offset, etag).run();
  } catch (err) {
    await fh.close().catch(() => {});
    if (err instanceof DownloadError && err.discard) await discardPartial(dir, name);
    throw err;
  }
  await fh.close();
  await rename(part, join(dir, name));
  if (opts.durable !== false) await syncDir(dir);
  await rm(state, { force: true });
  return result;
}

/** Makes a rename in `dir` durable. */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
