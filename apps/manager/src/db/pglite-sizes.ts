import { fstatSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';

/**
 * File sizes of the embedded database's data directory, kept in memory instead of asked of the kernel each time.
 *
 * PostgreSQL learns a relation's length with `lseek(fd, 0, SEEK_END)`, and the planner asks it for the table and
 * every index a statement touches. The manager plans every run of a statement (force_custom_plan, client.ts), and
 * PGlite's file system for a directory on disk (Emscripten's NODEFS) answers each such seek with `fs.fstatSync`: in a
 * CPU profile of a 1,000 × 50 rollout on the embedded database, 8.1 s of the manager's thread were spent in fstat.
 *
 * Here the size of a file is read once, at its first seek to the end, and then kept: a write through the same file
 * system grows it to where the write ended, and any change of the file's attributes (a truncate) forgets it. Nothing
 * else writes the directory (one manager per directory: its lock file), and a file's node is one object for as long
 * as the file lives (renamed, it keeps its node and its bytes; unlinked, its node is gone), so the kept size is
 * the file's size.
 *
 * Applies to PGlite's NODEFS only (recognised by its seek calling fstatSync); an in-memory database (MEMFS) keeps its
 * sizes in memory already and is left alone. Returns whether it applied.
 */
export function keepFileSizes(pg: PGlite): boolean {
  const FS = (pg as unknown as { mod?: { FS?: EmscriptenFs } }).mod?.FS;
  const stream = FS?.streams.find((s) => s?.stream_ops?.llseek?.toString().includes('fstatSync') && typeof s.nfd === 'number');
  if (!FS || !stream) return false;
  const ops = stream.stream_ops;
  const nodeOps = stream.node.node_ops;
  if (ops.ocdnSizesKept) return true;
  const sizes = new WeakMap<object, number>();
  const { llseek, write } = ops;
  const { setattr } = nodeOps;
  ops.llseek = function (this: unknown, s: Stream, offset: number, whence: number) {
    if (whence !== SEEK_END || !FS.isFile(s.node.mode)) return llseek.call(this, s, offset, whence);
    let size = sizes.get(s.node);
    if (size === undefined) {
      try {
        size = fstatSync(s.nfd).size;
      } catch {
        return llseek.call(this, s, offset, whence); // its own error handling (errno) for a bad descriptor
      }
      sizes.set(s.node, size);
    }
    const at = offset + size;
    if (at < 0) throw new FS.ErrnoError(EINVAL);
    return at;
  };
  ops.write = function (this: unknown, s: Stream, buffer: unknown, offset: number, length: number, position: number) {
    let written: number;
    try {
      written = write.call(this, s, buffer, offset, length, position);
    } catch (err) {
      sizes.delete(s.node); // part of it may have been written
      throw err;
    }
    const size = sizes.get(s.node);
    if (size !== undefined) {
      if (typeof position === 'number' && position >= 0) sizes.set(s.node, Math.max(size, position + written));
      else sizes.delete(s.node);
    }
    return written;
  };
  nodeOps.setattr = function (this: unknown, node: object, attr: unknown) {
    sizes.delete(node);
    try {
      return setattr.call(this, node, attr);
    } finally {
      sizes.delete(node);
    }
  };
  ops.ocdnSizesKept = true;
  return true;
}

const SEEK_END = 2;
const EINVAL = 28;

interface Stream {
  nfd: number;
  node: { mode: number; node_ops: NodeOps };
  stream_ops: StreamOps;
}

interface StreamOps {
  llseek(s: Stream, offset: number, whence: number): number;
  write(s: Stream, buffer: unknown, offset: number, length: number, position: number): number;
  ocdnSizesKept?: boolean;
}

interface NodeOps {
  setattr(node: object, attr: unknown): void;
}

interface EmscriptenFs {
  streams: (Stream | null | undefined)[];
  isFile(mode: number): boolean;
  ErrnoError: new (errno: number) => Error;
}
