import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconnectDelay } from './link.ts';

describe('reconnect backoff', () => {
  it('retries at once the first time', () => {
    assert.equal(reconnectDelay(1, 250, 30_000, () => 1), 0);
  });
  it('then doubles, between half and all of each step, up to the cap', () => {
    const hi = (n: number) => reconnectDelay(n, 250, 30_000, () => 1);
    const lo = (n: number) => reconnectDelay(n, 250, 30_000, () => 0);
    assert.deepEqual([2, 3, 4, 5].map(hi), [250, 500, 1000, 2000]);
    assert.deepEqual([2, 3, 4, 5].map(lo), [125, 250, 500, 1000]);
    assert.equal(hi(40), 30_000);
    assert.equal(lo(40), 15_000);
  });
  it('spreads a fleet (jitter)', () => {
    const seen = new Set(Array.from({ length: 100 }, () => Math.round(reconnectDelay(6, 250, 30_000))));
    assert.ok(seen.size > 20);
  });
});
