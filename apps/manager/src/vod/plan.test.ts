import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { planRemovals, planTasks, rankedOrder, unrankedOnSources, type QueuedTask, type ServerView } from './plan.ts';

const server = (nodeId: string, files: Record<string, number>, df?: { total: number; used: number }, healthy = true): ServerView => ({
  nodeId,
  healthy,
  files: new Map(Object.entries(files)),
  df: df ? { total: df.total, used: df.used, free: df.total - df.used, usedPercent: (df.used / df.total) * 100 } : null,
});
const ranks = (names: string[]) => new Map(names.map((n, i) => [n, i + 1]));

describe('file remover plan', () => {
  it('keeps a duplicated file only on the server with the most free space', () => {
    const d = planRemovals({
      ranks: ranks(['a', 'b']),
      vods: [server('n1', { a: 10, b: 10 }, { total: 1000, used: 500 }), server('n2', { a: 10 }, { total: 1000, used: 100 })],
      busy: new Set(),
      highPercent: 90,
      lowPercent: 80,
    });
    assert.deepEqual(d, [{ nodeId: 'n1', name: 'a', size: 10, reason: 'duplicate' }]);
  });

  it('evicts from the lowest rank (unranked first) until at or below the low mark, sparing busy files', () => {
    const d = planRemovals({
      ranks: ranks(['top', 'mid', 'low']),
      vods: [server('n1', { top: 300, mid: 300, low: 200, stray: 100, busy: 50 }, { total: 1000, used: 950 })],
      busy: new Set(['busy']),
      highPercent: 90,
      lowPercent: 70,
    });
    assert.deepEqual(
      d.map((x) => [x.name, x.reason]),
      [
        ['stray', 'disk'],
        ['low', 'disk'],
      ],
    );
  });

  it('leaves a server at or below the high mark alone, and counts duplicates freed first', () => {
    const vods = [server('n1', { a: 100, b: 100 }, { total: 1000, used: 910 }), server('n2', { a: 100 }, { total: 1000, used: 0 })];
    const d = planRemovals({ ranks: ranks(['a', 'b']), vods, busy: new Set(), highPercent: 90, lowPercent: 50 });
    assert.deepEqual(d, [{ nodeId: 'n1', name: 'a', size: 100, reason: 'duplicate' }], '910 - 100 = 810 is below 90 %');
  });

  it('never deletes a busy file, never leaves a file on no server, and ends at most one copy per file (property)', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
    const serverArb = fc.record({ files: fc.dictionary(name, fc.integer({ min: 1, max: 300 })), extra: fc.integer({ min: 0, max: 500 }) });
    fc.assert(
      fc.property(fc.array(serverArb, { minLength: 1, maxLength: 4 }), fc.subarray(['a', 'b', 'c', 'd', 'e', 'f']), fc.integer({ min: 50, max: 95 }), (specs, busyList, high) => {
        const vods = specs.map((s, i) => {
          const used = Object.values(s.files).reduce((x, y) => x + y, 0) + s.extra;
          return server(`n${i}`, s.files, { total: 1000, used });
        });
        const busy = new Set(busyList);
        const d = planRemovals({ ranks: ranks(['a', 'b', 'c']), vods, busy, highPercent: high, lowPercent: high - 10 });
        for (const x of d) assert.ok(!busy.has(x.name), 'busy file deleted');
        const keys = d.map((x) => `${x.nodeId}/${x.name}`);
        assert.equal(new Set(keys).size, keys.length, 'a copy deleted twice');
        for (const name of new Set(d.filter((x) => x.reason === 'duplicate').map((x) => x.name))) {
          const left = vods.filter((v) => v.files!.has(name) && !keys.includes(`${v.nodeId}/${name}`)).length;
          assert.equal(left, 1, `duplicate ${name} ends on exactly one server`);
        }
      }),
    );
  });
});

const task = (t: Partial<QueuedTask> & Pick<QueuedTask, 'file' | 'nodeId' | 'sourceNodeId'>): QueuedTask => ({ id: `t-${t.file}`, size: 10, bytesDone: 0, status: 'working', updatedAt: 1000, ...t });

describe('task manager plan', () => {
  const base = {
    sizes: new Map<string, number>(),
    now: 10_000,
    timeoutMs: 5_000,
    concurrency: 2,
    highPercent: 90,
  };

  it('cleans done, failed, timed-out tasks and those of servers that failed the heartbeat', () => {
    const p = planTasks({
      ...base,
      order: [],
      tasks: [
        task({ file: 'done', nodeId: 'v1', sourceNodeId: 's', status: 'done', updatedAt: 9000 }),
        task({ file: 'failed', nodeId: 'v1', sourceNodeId: 's', status: 'failed', updatedAt: 9000 }),
        task({ file: 'old', nodeId: 'v1', sourceNodeId: 's', updatedAt: 5000 }),
        task({ file: 'deadvod', nodeId: 'v2', sourceNodeId: 's', updatedAt: 9000 }),
        task({ file: 'ok', nodeId: 'v1', sourceNodeId: 's', updatedAt: 9000 }),
      ],
      vods: [server('v1', {}, { total: 100, used: 0 }), server('v2', {}, { total: 100, used: 0 }, false)],
      sources: [server('s', {})],
    });
    assert.deepEqual(p.remove, [
      { id: 't-done', reason: 'done' },
      { id: 't-failed', reason: 'failed' },
      { id: 't-old', reason: 'timeout' },
      { id: 't-deadvod', reason: 'heartbeat' },
    ]);
  });

  it('creates tasks from the highest rank down for files not queued, not on a VOD server, on a healthy source, until every source is full', () => {
    const order = rankedOrder(ranks(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']));
    const p = planTasks({
      ...base,
      order,
      tasks: [task({ file: 'r2', nodeId: 'v1', sourceNodeId: 's1', updatedAt: 9000 })],
      vods: [server('v1', { r1: 10 }, { total: 1000, used: 10 }), server('v2', {}, { total: 1000, used: 500 })],
      sources: [server('s1', { r1: 10, r2: 10, r3: 10, r4: 10, r5: 10, r6: 10 }), server('s2', { r4: 10, r5: 10 }), server('s3', { r6: 10 }, undefined, false)],
    });
    assert.deepEqual(
      p.create.map((t) => [t.file, t.sourceNodeId, t.nodeId]),
      [
        ['r3', 's1', 'v1'],
        ['r4', 's2', 'v1'],
        ['r5', 's2', 'v1'],
      ],
      's1 holds one task already, s2 takes r4 and r5, s3 is down; v1 has the most room',
    );
  });

  it('assigns a file only to a server with room below the high mark, and spreads by room', () => {
    const p = planTasks({
      ...base,
      concurrency: 10,
      order: ['big', 'a', 'b'],
      sizes: new Map(),
      tasks: [],
      vods: [server('v1', {}, { total: 100, used: 50 }), server('v2', {}, { total: 100, used: 60 })],
      sources: [server('s', { big: 45, a: 20, b: 20 })],
    });
    assert.deepEqual(
      p.create.map((t) => [t.file, t.nodeId]),
      [
        ['a', 'v1'],
        ['b', 'v2'],
      ],
      'big (45) fits nowhere under 90 %; a goes to v1 (40 left), then b to v2 (30 left vs v1 20)',
    );
  });

  it('ranks files the rank list does not name last, by name, and looks at them only when the ranked ones run out', () => {
    const r = ranks(['b']);
    const sources = [server('s', { z: 1, b: 1, a: 1 })];
    assert.deepEqual(unrankedOnSources(r, sources), ['a', 'z']);
    const vods = [server('v', {}, { total: 100, used: 0 })];
    let asked = 0;
    const unranked = () => (asked++, unrankedOnSources(r, sources));
    const one = planTasks({ ...base, concurrency: 1, order: rankedOrder(r), unranked, tasks: [], vods, sources });
    assert.deepEqual([one.create.map((t) => t.file), asked], [['b'], 0]);
    const three = planTasks({ ...base, concurrency: 3, order: rankedOrder(r), unranked, tasks: [], vods, sources });
    assert.deepEqual(three.create.map((t) => t.file), ['b', 'a', 'z']);
  });

  it('never queues a file twice, never beyond the concurrency per source, never onto an unhealthy server (property)', () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ files: fc.subarray(names), healthy: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.record({ used: fc.integer({ min: 0, max: 100 }), healthy: fc.boolean(), files: fc.subarray(names) }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        (srcs, vodSpecs, concurrency) => {
          const sources = srcs.map((s, i) => server(`s${i}`, Object.fromEntries(s.files.map((f) => [f, 5])), undefined, s.healthy));
          const vods = vodSpecs.map((v, i) => server(`v${i}`, Object.fromEntries(v.files.map((f) => [f, 5])), { total: 100, used: v.used }, v.healthy));
          const p = planTasks({ ...base, concurrency, order: names, tasks: [], vods, sources });
          const files = p.create.map((t) => t.file);
          assert.equal(new Set(files).size, files.length);
          for (const s of sources) assert.ok(p.create.filter((t) => t.sourceNodeId === s.nodeId).length <= concurrency);
          for (const t of p.create) {
            assert.ok(sources.find((s) => s.nodeId === t.sourceNodeId)!.healthy && vods.find((v) => v.nodeId === t.nodeId)!.healthy);
            assert.ok(!vods.some((v) => v.files!.has(t.file)), 'already on a VOD server');
          }
        },
      ),
    );
  });
});
