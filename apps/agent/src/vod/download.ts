import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A shared bandwidth cap: a token bucket refilled at `bytesPerSecond`, holding at most one second of tokens. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(private readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }
  async take(n: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
      this.last = now;
      if (this.tokens >= Math.min(n, this.bytesPerSecond)) {
        this.tokens -= n; // may go negative for a chunk larger than the bucket: the next take waits it off
        return;
      }
      signal?.throwIfAborted();
      const waitMs = ((Math.min(n, this.bytesPerSecond) - this.tokens) / this.bytesPerSecond) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(waitMs, 250))));
    }
  }
}

export class DownloadError extends Error {
  override name = 'DownloadError';
}

export interface DownloadOptions {
  url: string;
  dir: string;
  name: string;
  signal: AbortSignal;
  /** Called with the bytes of the file on disk so far (resumed bytes included), at most every `progressMs`. */
  onProgress?(bytes: number): void;
  progressMs?: number;
  bucket?: TokenBucket | undefined;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  /** Bytes that were already on disk from an earlier, interrupted attempt. */
  resumedFrom: number;
}

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

function get(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, signal }, resolve);
    req.on('error', reject);
    req.end();
  });
}

function parseDigest(header: string | string[] | undefined): string | null {
  const m = /sha-256=:([A-Za-z0-9+/=]+):/i.exec(String(header ?? ''));
  return m ? Buffer.from(m[1]!, 'base64').toString('hex') : null;
}

/**
 * Downloads `url` into `<dir>/<name>`: into a hidden temp file in the same directory first, resuming the bytes an
 * earlier attempt left (Range + If-Range, so a file that changed on the source is fetched whole again), checking
 * the length and the sha256 the source states in `Repr-Digest`, then renaming into place. On a mismatch the
 * partial file is removed; on an abort it is kept for the next attempt.
 */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const { dir, name, signal } = opts;
  const part = partPath(dir, name);
  const state = statePath(dir, name);
  let offset = await partialBytes(dir, name);
  const saved = offset > 0 ? await readFile(state, 'utf8').then((t) => JSON.parse(t) as { etag?: string }, () => null) : null;
  if (offset > 0 && !saved?.etag) {
    await discardPartial(dir, name);
    offset = 0;
  }
  const headers: Record<string, string> = { 'want-repr-digest': 'sha-256=10' };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    headers['if-range'] = saved!.etag!;
  }
  const res = await get(opts.url, headers, signal);
  try {
    if (res.statusCode === 200) offset = 0;
    else if (res.statusCode === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== offset) throw new DownloadError(`source answered a range other than the one asked (${res.headers['content-range']})`);
    } else if (res.statusCode === 416) {
      // What we hold is not a prefix of the file any more: start over next time.
      await discardPartial(dir, name);
      throw new DownloadError('source refused the resume range (the file changed); partial file discarded');
    } else {
      const body = await readBody(res);
      throw new DownloadError(`source answered HTTP ${res.statusCode}: ${body.slice(0, 300)}`);
    }
    const etag = String(res.headers.etag ?? '');
    const digest = parseDigest(res.headers['repr-digest']);
    if (!digest) throw new DownloadError('source stated no sha-256 digest (Repr-Digest); refusing an unverifiable file');
    const total =
      res.statusCode === 206 ? Number(/\/(\d+)$/.exec(String(res.headers['content-range']))![1]) : Number(res.headers['content-length'] ?? NaN);
    if (!Number.isFinite(total)) throw new DownloadError('source stated no length');
    await writeFile(state, JSON.stringify({ etag }));

    const hash = createHash('sha256');
    const resumedFrom = offset;
    if (offset > 0) {
      // The bytes on disk are part of the file: they count in its checksum.
      for await (const chunk of createReadStream(part, { end: offset - 1, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    }
    let bytes = offset;
    let lastReport = 0;
    const { bucket, onProgress } = opts;
    const progressMs = opts.progressMs ?? 1000;
    const meter = new Transform({
      async transform(chunk: Buffer, _enc, cb) {
        try {
          if (bucket) await bucket.take(chunk.length, signal);
          hash.update(chunk);
          bytes += chunk.length;
          const now = performance.now();
          if (onProgress && now - lastReport >= progressMs) {
            lastReport = now;
            onProgress(bytes);
          }
          cb(null, chunk);
        } catch (err) {
          cb(err as Error);
        }
      },
    });
    await pipeline(res, meter, createWriteStream(part, { flags: offset > 0 ? 'a' : 'w', highWaterMark: 1 << 20 }), { signal });
    if (bytes !== total) throw new DownloadError(`got ${bytes} bytes of ${total}`);
    const sha256 = hash.digest('hex');
    if (sha256 !== digest) {
      await discardPartial(dir, name);
      throw new DownloadError(`checksum mismatch: got sha256 ${sha256}, source stated ${digest} (the file changed on the source?)`);
    }
    await rename(part, join(dir, name));
    await rm(state, { force: true });
    return { bytes, sha256, resumedFrom };
  } finally {
    res.destroy();
  }
}

async function readBody(res: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of res) {
    s += String(c);
    if (s.length > 2000) break;
  }
  return s;
}
