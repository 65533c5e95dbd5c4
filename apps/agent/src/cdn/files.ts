import { createHash, randomBytes } from 'node:crypto';
import { close, fsync, open, readFile, rename, rm, write } from 'node:fs';
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

/** Writes a file atomically: a temp file in the same directory, fsync, then rename over the target. */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = await openFd(tmp, 'wx', mode);
  try {
    const bytes = Buffer.from(content, 'utf8');
    for (let off = 0; off < bytes.length; ) off += (await writeFd(fd, bytes, off, bytes.length - off)).bytesWritten;
    await fsyncFd(fd);
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
