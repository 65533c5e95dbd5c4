// The embedded database keeps its files' sizes in memory (pglite-sizes.ts): what it answers for a seek to a file's
// end must be the file's size on disk after everything that grows, shrinks, rewrites or renames files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { keepFileSizes } from './pglite-sizes.ts';
import { tempDir } from '../../../../test/support/procs.ts';

interface Stream {
  nfd?: number;
  path: string;
  node: { mode: number };
  stream_ops: { llseek(s: Stream, offset: number, whence: number): number };
}

/** Every open file of the database whose kept size differs from the kernel's, as `path kept/real`. */
function wrongSizes(pg: PGlite): string[] {
  const FS = (pg as unknown as { mod: { FS: { streams: (Stream | null)[]; isFile(mode: number): boolean } } }).mod.FS;
  const wrong: string[] = [];
  for (const s of FS.streams) {
    if (!s || typeof s.nfd !== 'number' || !FS.isFile(s.node.mode)) continue;
    // The file system's own seek, without moving the stream's position.
    const kept = s.stream_ops.llseek(s, 0, 2);
    const real = fs.fstatSync(s.nfd).size;
    if (kept !== real) wrong.push(`${s.path} ${kept}/${real}`);
  }
  return wrong;
}

describe("the embedded database's kept file sizes", () => {
  it('match the files on disk through growth, vacuum, truncate, rewrite and checkpoints, and the data survives a reopen', async () => {
    const dir = tempDir('pglite-sizes');
    let fstats = 0;
    const own = fs.fstatSync;
    try {
      let pg = new PGlite(dir.path);
      await pg.waitReady;
      assert.equal(keepFileSizes(pg), true, 'applies to a database on disk');
      assert.equal(keepFileSizes(pg), true, 'applying twice is harmless');
      const phases: [string, string][] = [
        ['create', 'create table t (id int primary key, a text, b int); create index t_b on t (b); create index t_a on t (a)'],
        ['grow', "insert into t select g, repeat('x', 200) || g, g % 10 from generate_series(1, 20000) g"],
        ['update', 'update t set b = b + 1 where id % 3 = 0'],
        ['delete the tail', 'delete from t where id > 5000'],
        ['vacuum (truncates)', 'vacuum t'],
        ['grow again', "insert into t select g, 'y' || g, g % 7 from generate_series(5001, 9000) g"],
        ['vacuum full (rewrites)', 'vacuum full t'],
        ['truncate', 'truncate t'],
        ['refill', "insert into t select g, 'z' || g, g from generate_series(1, 3000) g"],
        ['checkpoint', 'checkpoint'],
        ['more wal', "insert into t select g, repeat('w', 500), g from generate_series(3001, 40000) g; checkpoint"],
      ];
      // PGlite's own calls are counted; this test's (wrongSizes) are not.
      let counting = true;
      (fs as { fstatSync: typeof fs.fstatSync }).fstatSync = ((...args: Parameters<typeof fs.fstatSync>) => {
        if (counting) fstats++;
        return own(...args);
      }) as typeof fs.fstatSync;
      for (const [phase, sql] of phases) {
        await pg.exec(sql);
        // The planner's seeks, many times over.
        for (let i = 0; i < 50; i++) await pg.query('select count(*) from t where id = $1 or b = $2', [i, i]);
        counting = false;
        assert.deepEqual(wrongSizes(pg), [], `after ${phase}`);
        counting = true;
      }
      (fs as { fstatSync: typeof fs.fstatSync }).fstatSync = own;
      // 550 planned statements over a table and two indexes, and the phases' own: without the kept sizes PGlite asked
      // the kernel 7,738 times here; with them, never (the first seek of each file is this module's own fstat).
      assert.ok(fstats < 200, `the database asked the kernel for sizes ${fstats} times`);
      const before = await pg.query<{ n: number; s: number }>('select count(*)::int as n, sum(b)::int as s from t');
      await pg.close();
      pg = new PGlite(dir.path);
      const after = await pg.query<{ n: number; s: number }>('select count(*)::int as n, sum(b)::int as s from t');
      assert.deepEqual(after.rows, before.rows);
      assert.deepEqual(after.rows, [{ n: 40000, s: (40000 * 40001) / 2 }]);
      await pg.close();
    } finally {
      (fs as { fstatSync: typeof fs.fstatSync }).fstatSync = own;
      dir.remove();
    }
  });

  it('leaves an in-memory database alone', async () => {
    const pg = new PGlite();
    try {
      await pg.waitReady;
      assert.equal(keepFileSizes(pg), false);
    } finally {
      await pg.close();
    }
  });
});
