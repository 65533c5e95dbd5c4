import { createHash, randomBytes } from 'node:crypto';
import { close, fstat, fsync, open, readFile, rename, rm, stat, write, type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, join, resolve } from 'node:path';

// The callback API, promisified: fs/promises' FileHandle costs several times the CPU per file, and an agent writes
// and reads a thousand config files in a rollout.
const openFd = promisify(open);
const writeFd = promisify(write);
const fsyncFd = promisify(fsync);
const closeFd = promisify(close);
const renameFile = promisify(rename);
const rmFile = promisify(rm);
const readFileText = promisify(readFile);
const fstatFd = promisify(fstat) as unknown as (fd: number, opts: { bigint: true }) => Promise<BigIntStats>;
const statPath = promisify(stat) as unknown as (path: string, opts: { bigint: true }) => Promise<BigIntStats>;

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
export function stampOrNull(path: string): Promise<FileStamp | null> {
  return statPath(path, { bigint: true }).then(stampOf, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
}

/**
 * Writes a file atomically: a temp file in the same directory, fsync, then rename over the target. Resolves to the
 * new file's stamp (a rename keeps the inode, its size and its modification time).
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<FileStamp> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = await openFd(tmp, 'wx', mode);
  let stamp: FileStamp;
  try {
    const bytes = Buffer.from(content, 'utf8');
    for (let off = 0; off < bytes.length; ) off += (await writeFd(fd, bytes, off, bytes.length - off)).bytesWritten;
    await fsyncFd(fd);
    stamp = stampOf(await fstatFd(fd, { bigint: true }));
  } catch (err) {
    await closeFd(fd).catch(() => {});
    await rmFile(tmp, { force: true });
    throw err;
  }
  await closeFd(fd);
  try {
    await renameFile(tmp, path);
  } catch (err) {
    await rmFile(tmp, { force: true });
    throw err;
  }
  return stamp;
}

/** The file's text, or null when there is none. */
export function readTextOrNull(path: string): Promise<string | null> {
  return readFileText(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
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
