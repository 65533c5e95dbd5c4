import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { FOREGROUND_GC_FLAGS, gcFlags } from './gc-flags.ts';

test('the collector flags are set unless node was given one of its own', () => {
  assert.deepEqual(gcFlags([]), FOREGROUND_GC_FLAGS);
  assert.deepEqual(gcFlags(['--enable-source-maps', '--max-semi-space-size=64']), FOREGROUND_GC_FLAGS);
  for (const own of ['--parallel-scavenge', '--no-parallel_scavenge', '--concurrent-array-buffer-sweeping', '--single-threaded', '--single-threaded-gc']) {
    assert.deepEqual(gcFlags([own]), [], own);
  }
});

test('every flag is one this node knows (V8 only prints an error for an unknown one)', () => {
  const known = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  for (const flag of FOREGROUND_GC_FLAGS) {
    const name = flag.replace(/^--no-/, '');
    assert.match(known, new RegExp(`^\\s+--${name} \\(`, 'm'), `${name} in node --v8-options`);
  }
});

test('set while running, they leave the young generation to the thread that collects it', () => {
  // As main.ts does: set after start, then a heap that keeps a young generation busy. --trace-gc-nvp prints each
  // scavenge's own time and the time helper threads spent on it.
  const script = `const v8 = require('node:v8');
    for (const f of JSON.parse(process.argv[1])) v8.setFlagsFromString(f);
    let keep = [];
    for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: 'x' + i, c: new Uint8Array(8) }); if (keep.length > 100000) keep = []; }`;
  const out = execFileSync(process.execPath, ['--trace-gc-nvp', '-e', script, JSON.stringify(FOREGROUND_GC_FLAGS)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const scavenges = out.split('\n').filter((l) => / gc=s /.test(l));
  assert.ok(scavenges.length >= 10, `${scavenges.length} scavenges`);
  const helped = scavenges.filter((l) => Number(/ background\.scavenge\.parallel=([0-9.]+)/.exec(l)?.[1] ?? NaN) !== 0);
  assert.deepEqual(helped, [], 'scavenges with helper threads');
});
