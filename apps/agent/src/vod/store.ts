import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, realpath, stat, unlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Stats } from 'node:fs';
import checkDiskSpaceModule from 'check-disk-space';
import { isSafeFileName, type VodDfResponse, type VodFile } from '@ocdn/protocol';
import { AgentRpcError } from '../rpc.ts';

// The package's one .d.ts describes its ESM build, which TypeScript reads as CommonJS here; at run time the default
// export is the function (ESM) or sits under `.default` (the CommonJS build the bundle takes).
const checkDiskSpace = ((checkDiskSpaceModule as unknown as { default?: unknown }).default ?? checkDiskSpaceModule) as (
  path: string,
) => Promise<{ free: number; size: number }>;

export interface FileStoreOptions {
  dir: string;
  /**
   * When set, the directory counts as a disk of this many bytes: `used` is what the files in it take, and `free` the
   * rest (never more than the real disk has). Lets an operator cap ocdn's share of a shared disk.
   */
  capacityBytes?: number | undefined;
}

/**
 * The VOD file directory (on a source server: its SAN mount). Every name is checked: one plain path component, no
 * hidden names (those are the agent's partial downloads), and nothing that resolves outside the directory, symlinks
 * included.
 */
export class FileStore {
  readonly dir: string;
  private realDir: string | null = null;
  private readonly digests = new Map<string, { key: string; hex: Promise<string> }>();

  constructor(private readonly opts: FileStoreOptions) {
    this.dir = resolve(opts.dir);
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.realDir = await realpath(this.dir);
  }

  /** The path of a file name inside the directory; throws invalid_params for a name that is not a plain file name. */
  pathOf(name: string): string {
    if (!isSafeFileName(name) || name === '..' || name === '.') {
      throw new AgentRpcError('invalid_params', `"${name.replace(/[\u0000-\u001f]/g, '?')}" is not a plain file name`);
    }
    return join(this.dir, name);
  }

  /**
   * Stats a complete file by name: null when there is none. A symlink is followed only when its target stays inside
   * the directory; anything else that is not a regular file counts as missing.
   */
  async statFile(name: string): Promise<{ path: string; stats: Stats } | null> {
    const path = this.pathOf(name);
    let st: Stats;
    try {
      st = await lstat(path);
      if (st.isSymbolicLink()) {
        const target = await realpath(path);
        const base = this.realDir ?? (await realpath(this.dir));
        if (!target.startsWith(base + sep)) return null;
        st = await stat(target);
      }
    } catch {
      return null;
    }
    return st.isFile() ? { path, stats: st } : null;
  }

  /** `GET /files`: every complete file (hidden partial downloads are not listed). */
  async list(): Promise<VodFile[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    const out: VodFile[] = [];
    for (const e of entries) {
      if (!isSafeFileName(e.name) || !(e.isFile() || e.isSymbolicLink())) continue;
      const f = await this.statFile(e.name);
      if (f) out.push({ name: e.name, size: f.stats.size, mtime: f.stats.mtime.toISOString() });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** `DELETE /files/:name`. */
  async remove(name: string): Promise<{ name: string; deleted: boolean }> {
    const path = this.pathOf(name);
    const f = await this.statFile(name);
    if (!f) return { name, deleted: false };
    await unlink(path);
    this.digests.delete(name);
    return { name, deleted: true };
  }

  /** `GET /df`: the directory's disk, or its configured capacity. */
  async df(): Promise<VodDfResponse> {
    const disk = await checkDiskSpace(this.dir);
    let total = disk.size;
    let free = disk.free;
    if (this.opts.capacityBytes !== undefined) {
      const used = await this.bytesInDir();
      total = this.opts.capacityBytes;
      free = Math.max(0, Math.min(total - used, disk.free));
    }
    const used = Math.max(0, total - free);
    return { path: this.dir, total, free, used, usedPercent: total > 0 ? Math.min(100, (used / total) * 100) : 100 };
  }

  /** Bytes the directory's files take, partial downloads included. */
  private async bytesInDir(): Promise<number> {
    let sum = 0;
    for (const e of await readdir(this.dir, { withFileTypes: true })) {
      if (!e.isFile()) continue;
      sum += (await lstat(join(this.dir, e.name)).catch(() => ({ size: 0 }))).size;
    }
    return sum;
  }

  /** sha256 of a file, computed once per (inode, size, mtime) and cached. */
  digest(name: string, path: string, st: Stats): Promise<string> {
    const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    const cached = this.digests.get(name);
    if (cached?.key === key) return cached.hex;
    const hex = new Promise<string>((ok, fail) => {
      const h = createHash('sha256');
      createReadStream(path, { highWaterMark: 1 << 20 })
        .on('data', (c) => h.update(c))
        .on('end', () => ok(h.digest('hex')))
        .on('error', fail);
    });
    hex.catch(() => this.digests.delete(name));
    this.digests.set(name, { key, hex });
    return hex;
  }
}

/** A strong validator from size and modification time, as nginx makes them. */
export function etagOf(st: Stats): string {
  return `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}
