import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommit } from './group-commit.ts';

describe('GroupCommit', () => {
  it('commits the writes that wait together, at most maxBatch to a batch, in order', async () => {
    const batches: number[][] = [];
    const log = new GroupCommit<number, number>(
      async (writes) => {
        batches.push(writes);
        return writes.map((w) => w * 10);
      },
      (w) => String(w),
      3,
    );
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => log.write(i)));
    assert.deepEqual(results, [0, 10, 20, 30, 40, 50, 60, 70]);
    // the first write commits alone (an idle writer does not wait); the seven that queued meanwhile go 3, 3, 1
    assert.deepEqual(batches, [[0], [1, 2, 3], [4, 5, 6], [7]]);
    assert.ok(log.idle);
  });

  it('puts a second write with the same key in a later batch, and fails only the batch that failed', async () => {
    const batches: string[][] = [];
    const log = new GroupCommit<string, string>(
      async (writes) => {
        batches.push(writes);
        if (writes.includes('bad')) throw new Error('refused on purpose');
        return writes;
      },
      (w) => w.split(':')[0]!,
      100,
    );
    const first = log.write('x:0');
    const rest = [log.write('a:1'), log.write('a:2'), log.write('bad')].map((p) => p.then((v) => v, (e: Error) => e.message));
    assert.equal(await first, 'x:0');
    assert.deepEqual(await Promise.all(rest), ['a:1', 'refused on purpose', 'refused on purpose']);
    assert.deepEqual(batches, [['x:0'], ['a:1'], ['a:2', 'bad']]);
  });
});
