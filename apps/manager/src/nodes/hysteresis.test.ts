import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { countCheck, type HealthChange, type HealthCount } from './hysteresis.ts';

/** Runs a sequence of checks from a healthy node; the changes, with the index of the check that caused each. */
function run(checks: boolean[], faultAfter: number, recoverAfter: number): { at: number; change: Exclude<HealthChange, null> }[] {
  let h: HealthCount = { healthy: true, misses: 0, successes: 0 };
  const out: { at: number; change: Exclude<HealthChange, null> }[] = [];
  checks.forEach((ok, i) => {
    const r = countCheck(h, ok, faultAfter, recoverAfter);
    h = r.next;
    if (r.change) out.push({ at: i, change: r.change });
  });
  return out;
}

const params = fc.record({ checks: fc.array(fc.boolean(), { maxLength: 200 }), faultAfter: fc.integer({ min: 1, max: 6 }), recoverAfter: fc.integer({ min: 1, max: 6 }) });

describe('health hysteresis (OCDN_FAULT_AFTER / OCDN_RECOVER_AFTER)', () => {
  it('a change happens exactly when the run of equal results behind a check reaches its threshold', () => {
    fc.assert(
      fc.property(params, ({ checks, faultAfter, recoverAfter }) => {
        // Reference: walk the checks with the state and the length of the trailing run of equal results.
        let healthy = true;
        let runLength = 0;
        const expected: { at: number; change: 'fault' | 'recover' }[] = [];
        checks.forEach((ok, i) => {
          runLength = i > 0 && checks[i - 1] === ok ? runLength + 1 : 1;
          if (healthy && !ok && runLength >= faultAfter) {
            healthy = false;
            expected.push({ at: i, change: 'fault' });
          } else if (!healthy && ok && runLength >= recoverAfter) {
            healthy = true;
            expected.push({ at: i, change: 'recover' });
          }
        });
        assert.deepEqual(run(checks, faultAfter, recoverAfter), expected);
      }),
    );
  });

  it('changes alternate, start with a fault, and are spaced by the thresholds', () => {
    fc.assert(
      fc.property(params, ({ checks, faultAfter, recoverAfter }) => {
        const changes = run(checks, faultAfter, recoverAfter);
        changes.forEach((c, i) => assert.equal(c.change, i % 2 === 0 ? 'fault' : 'recover'));
        assert.ok(changes.length === 0 || changes[0]!.at >= faultAfter - 1);
        for (let i = 1; i < changes.length; i++) {
          const gap = changes[i]!.at - changes[i - 1]!.at;
          assert.ok(gap >= (changes[i]!.change === 'recover' ? recoverAfter : faultAfter), `gap ${gap}`);
        }
        // Hence the flapping bound the README states: a fault and its recovery take faultAfter + recoverAfter checks.
        assert.ok(changes.length <= Math.ceil((2 * checks.length) / (faultAfter + recoverAfter)) + 1);
      }),
    );
  });

  it('a node that alternates faster than either threshold never changes', () => {
    const flap = Array.from({ length: 100 }, (_, i) => i % 2 === 0);
    assert.deepEqual(run(flap, 3, 3), []);
    assert.deepEqual(run([false, false, true, false, false, true], 3, 3), []);
    assert.deepEqual(run([false, false, false], 3, 3), [{ at: 2, change: 'fault' }]);
  });
});
