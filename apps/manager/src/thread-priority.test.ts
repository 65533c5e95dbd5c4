import assert from 'node:assert/strict';
import { getPriority, setPriority } from 'node:os';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { waitFor } from '../../../test/support/wait.ts';
import { Raised, currentThreadId, raiseThreadNice, threadNice } from './thread-priority.ts';

/** Whether this process may lower a nice value (CAP_SYS_NICE); under CI=true it must (the runner is root). */
function mayRaise(t: { skip(msg: string): void }): boolean {
  const own = getPriority();
  try {
    setPriority(own - 1);
    setPriority(own);
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error('raising a thread priority needs CAP_SYS_NICE, which CI runs with');
    t.skip('no CAP_SYS_NICE');
    return false;
  }
}

/** A thread of this process that answers its own nice value when asked. */
function otherThread(): { nice(): Promise<number>; stop(): Promise<number> } {
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads'); const { getPriority } = require('node:os');
     parentPort.on('message', () => parentPort.postMessage(getPriority()));`,
    { eval: true },
  );
  return {
    nice: () => new Promise((resolve) => (w.once('message', resolve), w.postMessage('nice'))),
    stop: () => w.terminate(),
  };
}

describe('raising the manager thread for a health decision', () => {
  it('raises that one thread and puts it back once the work settles', async (t) => {
    if (!mayRaise(t)) return;
    const tid = currentThreadId();
    const own = threadNice(tid)!;
    const other = otherThread();
    t.after(() => {
      setPriority(own);
      return other.stop().then(() => {});
    });
    const raised = new Raised(tid);
    assert.equal(raiseThreadNice(tid, own - 5), own, 'raised: answers the value before');
    assert.equal(threadNice(tid), own - 5);
    assert.equal(await other.nice(), own, "the process's other threads keep theirs");
    assert.equal(raiseThreadNice(tid, own - 5), own - 5, 'raised already: runs at it');
    assert.equal(raiseThreadNice(tid, own - 2), null, 'never lowered by a raise');
    assert.equal(threadNice(tid), own - 5);

    let writeA!: () => void;
    let writeB!: () => void;
    raised.lowerAfter(new Promise<void>((r) => (writeA = r)), own);
    raised.lowerAfter(new Promise<void>((r) => (writeB = r)), own - 5); // the second raise found the first's value
    writeA();
    await new Promise((r) => setImmediate(r));
    assert.equal(threadNice(tid), own - 5, 'still raised while a second decision is being written');
    writeB();
    await waitFor('own nice value back', async () => threadNice(tid) === own, { timeoutMs: 2_000, intervalMs: 5 });
  });

  it('puts it back after the cap when the work never settles', async (t) => {
    if (!mayRaise(t)) return;
    const tid = currentThreadId();
    const own = threadNice(tid)!;
    t.after(() => setPriority(own));
    const raised = new Raised(tid, 50);
    raised.lowerAfter(new Promise(() => {}), raiseThreadNice(tid, own - 3)!);
    assert.equal(threadNice(tid), own - 3);
    await waitFor('own nice value back', async () => threadNice(tid) === own, { timeoutMs: 2_000, intervalMs: 5 });
  });

  it('is not raised again by a raise that found it raised, once that earlier raise was put back', async (t) => {
    if (!mayRaise(t)) return;
    const tid = currentThreadId();
    const own = threadNice(tid)!;
    t.after(() => setPriority(own));
    const raised = new Raised(tid);
    let writeA!: () => void;
    raised.lowerAfter(new Promise<void>((r) => (writeA = r)), raiseThreadNice(tid, own - 5)!);
    const second = raiseThreadNice(tid, own - 5); // the watch thread decides again before the first is written
    assert.equal(second, own - 5);
    writeA(); // ... and the first is put back before the manager's thread takes the second decision
    await waitFor('own nice value back', async () => threadNice(tid) === own, { timeoutMs: 2_000, intervalMs: 5 });
    let writeB!: () => void;
    raised.lowerAfter(new Promise<void>((r) => (writeB = r)), second!);
    writeB();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(threadNice(tid), own, 'left at its own value, not raised by the late message');
  });

  it('puts back the value the thread had before the raise, not the one it had at start', async (t) => {
    if (!mayRaise(t)) return;
    const tid = currentThreadId();
    const own = threadNice(tid)!;
    t.after(() => setPriority(own));
    const raised = new Raised(tid); // made at start, as the manager's is
    setPriority(own - 2); // an operator's renice of the running manager
    const before = raiseThreadNice(tid, own - 5);
    assert.equal(before, own - 2);
    let write!: () => void;
    raised.lowerAfter(new Promise<void>((r) => (write = r)), before!);
    assert.equal(threadNice(tid), own - 5);
    write();
    await waitFor('the renice back', async () => threadNice(tid) === own - 2, { timeoutMs: 2_000, intervalMs: 5 });
    await new Promise((r) => setImmediate(r));
    assert.equal(threadNice(tid), own - 2, 'not lowered further, to the value at start');
  });
});
