import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** Writes a file atomically: a temp file in the same directory, fsync, then rename over the target. */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
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
