import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnnouncedIds } from './status-withholds.ts';

/** Calls of `read` as they come, each awaited in turn with a deadline. */
function reads() {
  const calls: string[][] = [];
  const waiting: ((ids: string[]) => void)[] = [];
  return {
    calls,
    record(ids: string[]) {
      calls.push([...ids].sort());
      waiting.shift()?.([...ids].sort());
    },
    next(ms = 5_000): Promise<string[]> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no read within ${ms} ms`)), ms);
        waiting.push((ids) => {
          clearTimeout(timer);
          resolve(ids);
        });
      });
    },
  };
}

describe('announced node ids for the built-in DNS', () => {
  it('reads ids announced together in one batch', async () => {
    const r = reads();
    const ids = new AnnouncedIds(async (batch) => r.record(batch), () => {}, { batchMs: 20, retryMs: 50, maxIds: 1_000 });
    const first = r.next();
    for (const id of ['n3', 'n1', 'n2', 'n1']) ids.add(id);
    assert.deepEqual(await first, ['n1', 'n2', 'n3']);
    await ids.stop();
    assert.equal(r.calls.length, 1);
  });

  it('reads a failed batch again later, with what was announced meanwhile, and drops nothing', async () => {
    const r = reads();
    const errors: number[] = [];
    let fail = true;
    const ids = new AnnouncedIds(
      async (batch) => {
        r.record(batch);
        if (fail) {
          fail = false;
          ids.add('n9'); // announced while the database is away
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        }
      },
      (_err, count) => errors.push(count),
      { batchMs: 5, retryMs: 200, maxIds: 1_000 },
    );
    const first = r.next();
    const second = r.next();
    const t0 = Date.now();
    ids.add('n1');
    ids.add('n2');
    assert.deepEqual(await first, ['n1', 'n2']);
    assert.deepEqual(await second, ['n1', 'n2', 'n9']);
    assert.ok(Date.now() - t0 >= 200, 'the retry waits its delay rather than hammering a database that is away');
    assert.deepEqual(errors, [2]);
    await ids.stop();
  });

  it('reads at most maxIds at a time, and nothing after stop', async () => {
    const r = reads();
    const ids = new AnnouncedIds(async (batch) => r.record(batch), () => {}, { batchMs: 5, retryMs: 50, maxIds: 2 });
    const [a, b] = [r.next(), r.next()];
    for (const id of ['n1', 'n2', 'n3']) ids.add(id);
    assert.deepEqual([...(await a), ...(await b)].sort(), ['n1', 'n2', 'n3']);
    await ids.stop();
    ids.add('n4');
    await new Promise((res) => setImmediate(res));
    assert.equal(r.calls.length, 2);
  });
});
