import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_LAUNCH_ENV, MANAGER_LAUNCH_ENV, ROOT } from '../support/procs.ts';

// The tests and benchmarks start the manager with MANAGER_LAUNCH_ENV and the agent with AGENT_LAUNCH_ENV, so what they measure is what ships only while
// every shipped launcher sets the same environment.

test('npm start sets the manager launch environment', () => {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  for (const [k, v] of Object.entries(MANAGER_LAUNCH_ENV)) {
    assert.match(start, new RegExp(`(^|\\s)${k}=${v} (\\S+=\\S+ )*node apps/manager/dist/main\\.js`), `npm start lacks ${k}=${v}`);
  }
});

for (const [unitFile, env] of [['ocdn-manager.service', MANAGER_LAUNCH_ENV], ['ocdn-agent.service', AGENT_LAUNCH_ENV]] as const) {
  test(`deploy/${unitFile} sets its launch environment before its EnvironmentFile`, () => {
    const unit = readFileSync(join(ROOT, 'deploy', unitFile), 'utf8').split('\n');
    const envFileAt = unit.findIndex((l) => l.startsWith('EnvironmentFile='));
    assert.ok(envFileAt > 0, 'the unit has an EnvironmentFile');
    for (const [k, v] of Object.entries(env)) {
      const at = unit.indexOf(`Environment=${k}=${v}`);
      assert.ok(at >= 0, `the unit lacks Environment=${k}=${v}`);
      // systemd applies them in order: the operator's file has the last word
      assert.ok(at < envFileAt, `Environment=${k} comes after EnvironmentFile, which could not override it`);
    }
  });
}
