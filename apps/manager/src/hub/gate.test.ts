import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedGate } from './gate.ts';

const deferred = () => {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
const turn = () => new Promise<void>((r) => setImmediate(r));

describe('KeyedGate', () => {
  it('runs at most `limit` tasks of a key at once, in the order they came, and other keys alongside', async () => {
    const gate = new KeyedGate(2);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const task = (name: string) => () => {
      started.push(name);
      const d = deferred();
      gates.set(name, d);
      return d.promise;
    };
    const done = ['a1', 'a2', 'a3', 'a4'].map((n) => gate.run('a', task(n)));
    const other = gate.run('b', task('b1'));
    await turn();
    assert.deepEqual(started, ['a1', 'a2', 'b1'], 'two of key a, and key b at once');
    gates.get('a2')!.resolve();
    await done[1];
    await turn();
    assert.deepEqual(started, ['a1', 'a2', 'b1', 'a3']);
    gates.get('a1')!.reject(new Error('boom'));
    await assert.rejects(done[0]!, /boom/);
    await turn();
    assert.deepEqual(started, ['a1', 'a2', 'b1', 'a3', 'a4'], 'a failed task frees its slot too');
    for (const n of ['a3', 'a4', 'b1']) gates.get(n)!.resolve();
    await Promise.all([done[2], done[3], other]);
    assert.equal(gate.size, 0, 'idle keys are forgotten');
  });

  it('starts a task on a later turn, so that what is queued in this turn is there when it looks', async () => {
    const gate = new KeyedGate(1);
    const queue: number[] = [];
    let seen: number[] = [];
    queue.push(1);
    const ran = gate.run('k', async () => {
      seen = queue.splice(0);
    });
    queue.push(2, 3);
    await ran;
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('rejects with what a task throws synchronously, and goes on', async () => {
    const gate = new KeyedGate(1);
    await assert.rejects(gate.run('k', () => { throw new Error('sync'); }), /sync/);
    let ran = false;
    await gate.run('k', async () => { ran = true; });
    assert.ok(ran);
    assert.throws(() => new KeyedGate(0), /at least 1/);
  });
});
