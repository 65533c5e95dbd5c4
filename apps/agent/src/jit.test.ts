import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { jitFlag } from './jit.ts';

describe('the agent without an optimizing compiler', () => {
  it('runs at --max-opt=1 unless node was given a compiler flag of its own', () => {
    assert.equal(jitFlag([]), '--max-opt=1');
    assert.equal(jitFlag(['--enable-source-maps', '--max-old-space-size=256']), '--max-opt=1');
    for (const own of ['--max-opt=4', '--opt', '--no-opt', '--turbofan', '--maglev', '--no-sparkplug']) assert.equal(jitFlag([own]), null, own);
  });

  it('stops V8 optimizing hot code when set at run time (as main.ts sets it)', () => {
    const hot = `
      function f(x) { let s = 0; for (let i = 0; i < 1000; i++) s += (x * i) % 7; return s; }
      let t = 0; for (let i = 0; i < 100000; i++) t += f(i);`;
    const traced = (prelude: string) => execFileSync(process.execPath, ['--trace-opt', '-e', prelude + hot], { encoding: 'utf8' });
    assert.match(traced(''), /completed (compiling|optimizing)/, 'optimized without the flag');
    assert.doesNotMatch(traced(`require('node:v8').setFlagsFromString(${JSON.stringify(jitFlag([]))});`), /completed (compiling|optimizing)/);
  });
});
