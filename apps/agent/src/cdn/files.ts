import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, join, resolve } from 'node:path';

// Small files on a local disk: each call but fsync is made on the agent's own thread. An asynchronous call goes
// through libuv's thread pool — a wake-up of a pool thread and one of the event loop per call, and a rollout makes
// thousands (one stat, open, write, close and rename per config): on a virtual machine whose every context switch
// is dear, that costs more CPU than the call itself (each of these takes tens of microseconds here). fsync waits for
// the disk, for milliseconds: it stays in the pool, and the event loop goes on meanwhile.
const fsyncFd = promisify(fsync);

/**
 * What tells one version of a file from another without reading it: a write through writeFileAtomic makes a new
 * inode, and any other change moves the size or the modification time. (Not proof against a same-size rewrite in
 * place within the file system's timestamp granularity — a few milliseconds — which nothing of ours does.)
 */
export interface FileStamp {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

const stampOf = (st: BigIntStats): FileStamp => ({ ino: st.ino, size: st.size, mtimeNs: st.mtimeNs });

export const sameStamp = (a: FileStamp, b: FileStamp): boolean => a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;

/** The file's stamp, or null when there is none. */
export function stampOrNull(path: string): FileStamp | null {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? stampOf(st) : null;
}

/**
 * Writes a file atomically: a temp file in the same directory, fsync, then rename over the target. Resolves to the
 * new file's stamp (a rename keeps the inode, its size and its modification time).
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<FileStamp> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  let stamp: FileStamp;
  try {
    const bytes = Buffer.from(content, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    await fsyncFd(fd);
    stamp = stampOf(fstatSync(fd, { bigint: true }));
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // the write's error is the one to report
    }
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return stamp;
}

/** The file's text, or null when there is none. */
export function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The path of `name` inside `dir`, refusing anything that would land elsewhere. */
export function confinedPath(dir: string, name: string): string {
  const base = resolve(dir);
  const p = resolve(base, name);
  if (dirname(p) !== base || name.includes('/') || name.includes('\0')) throw new Error(`file name "${name}" leaves ${base}`);
  return p;
}
