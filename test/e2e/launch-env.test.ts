import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANAGER_LAUNCH_ENV, ROOT } from '../support/procs.ts';

// The tests and benchmarks start the manager with MANAGER_LAUNCH_ENV, so what they measure is what ships only while
// every shipped launcher sets the same environment.

test('npm start sets the manager launch environment', () => {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  for (const [k, v] of Object.entries(MANAGER_LAUNCH_ENV)) {
    assert.match(start, new RegExp(`(^|\\s)${k}=${v} (\\S+=\\S+ )*node apps/manager/dist/main\\.js`), `npm start lacks ${k}=${v}`);
  }
});

test('the systemd unit sets the manager launch environment before its EnvironmentFile', () => {
  const unit = readFileSync(join(ROOT, 'deploy/ocdn-manager.service'), 'utf8').split('\n');
  const envFileAt = unit.findIndex((l) => l.startsWith('EnvironmentFile='));
  assert.ok(envFileAt > 0, 'the unit has an EnvironmentFile');
  for (const [k, v] of Object.entries(MANAGER_LAUNCH_ENV)) {
    const at = unit.indexOf(`Environment=${k}=${v}`);
    assert.ok(at >= 0, `the unit lacks Environment=${k}=${v}`);
    // systemd applies them in order: the operator's file has the last word
    assert.ok(at < envFileAt, `Environment=${k} comes after EnvironmentFile, which could not override it`);
  }
});
