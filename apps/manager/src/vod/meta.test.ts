import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { emptyMeta, MetaLoader, parseGradeInfo, parseHitcountHistory } from './meta.ts';

describe('VOD metadata', () => {
  it('reads ranks and sizes, with comments, blank lines and CRLF', () => {
    const m = emptyMeta();
    parseGradeInfo('# file\trank\r\na.mpg\t1\r\n\r\nb c.mpg\t2\t# trailing comment\n', m);
    parseHitcountHistory('a.mpg\t1048576\t99\nb c.mpg\t10\t0\n', m);
    assert.deepEqual([...m.ranks], [['a.mpg', 1], ['b c.mpg', 2]]);
    assert.deepEqual([...m.sizes], [['a.mpg', 1048576], ['b c.mpg', 10]]);
    assert.deepEqual(m.issues, []);
  });

  it('reports each bad line with its number and skips it, never failing the whole file', () => {
    const m = emptyMeta();
    parseGradeInfo(['ok.mpg\t1', 'no-tab 2', '../etc/passwd\t3', 'zero.mpg\t0', 'neg.mpg\t-1', 'x.mpg\tabc', 'ok.mpg\t5', 'fine.mpg\t2'].join('\n'), m);
    parseHitcountHistory(['a.mpg\t12', 'b.mpg\t1e3\t4', 'c.mpg\t5\tmany', 'd.mpg\t7\t1'].join('\n'), m);
    assert.deepEqual([...m.ranks], [['ok.mpg', 1], ['fine.mpg', 2]]);
    assert.deepEqual([...m.sizes], [['d.mpg', 7]]);
    assert.deepEqual(
      m.issues.map((i) => `${i.file}:${i.line}`),
      ['.grade.info:2', '.grade.info:3', '.grade.info:4', '.grade.info:5', '.grade.info:6', '.grade.info:7', '.hitcount.history:1', '.hitcount.history:2', '.hitcount.history:3'],
    );
    assert.match(m.issues[1]!.message, /not a plain file name/);
    assert.match(m.issues[5]!.message, /duplicate/);
  });

  it('loads the folder, reports missing files, and reloads only when a file changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocdn-meta-'));
    try {
      const loader = new MetaLoader(dir);
      const first = await loader.load();
      assert.equal(first.issues.length, 2);
      assert.match(first.issues[0]!.message, /ENOENT/);
      writeFileSync(join(dir, '.grade.info'), 'a.mpg\t1\n');
      writeFileSync(join(dir, '.hitcount.history'), 'a.mpg\t5\t1\n');
      const second = await loader.load();
      assert.equal(second.ranks.get('a.mpg'), 1);
      assert.equal(await loader.load(), second, 'unchanged files: the same parse');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
