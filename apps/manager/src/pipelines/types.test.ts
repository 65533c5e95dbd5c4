import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RETRY, backoffDelay } from './types.ts';

describe('backoffDelay', () => {
  it('doubles per attempt between half and all of the step, up to the cap', () => {
    const lo = (n: number) => backoffDelay(RETRY, n, () => 0);
    const hi = (n: number) => backoffDelay(RETRY, n, () => 1);
    assert.equal(hi(1), RETRY.baseDelayMs);
    assert.equal(lo(1), RETRY.baseDelayMs / 2);
    assert.equal(hi(2), RETRY.baseDelayMs * 2);
    assert.equal(hi(3), RETRY.baseDelayMs * 4);
    assert.equal(hi(50), RETRY.maxDelayMs);
    assert.equal(lo(50), RETRY.maxDelayMs / 2);
  });
  it('spreads retries (jitter)', () => {
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(RETRY, 4)));
    assert.ok(seen.size > 10);
  });
});
