import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, AGENT_LAUNCH_ENV, MANAGER_LAUNCH_ENV, ROOT, freePort, tempDir } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';
import { FOREGROUND_GC_FLAGS } from '../../apps/manager/src/gc-flags.ts';

// The tests and benchmarks start the manager with MANAGER_LAUNCH_ENV and the agent with AGENT_LAUNCH_ENV, so what they measure is what ships only while
// every shipped launcher sets the same environment.

test('npm start runs the manager through scripts/start-manager.sh', () => {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  assert.match(start, /&& sh scripts\/start-manager\.sh$/);
});

test('scripts/start-manager.sh starts the manager with the launch environment, on jemalloc where the system has it, and its collector flags', async (t) => {
  // CI installs Debian's libjemalloc2: there the manager must run on it, as a production host with the package would.
  if (process.env.CI === 'true') assert.ok(MANAGER_LAUNCH_ENV.LD_PRELOAD, 'libjemalloc.so.2 not found (apt-get install libjemalloc2)');
  const dir = tempDir('launcher');
  t.after(() => dir.remove());
  const port = await freePort();
  const child = spawn('sh', [join(ROOT, 'scripts/start-manager.sh')], {
    env: { PATH: process.env.PATH ?? '', OCDN_DATA_DIR: dir.path, OCDN_HTTP_PORT: String(port), OCDN_DNS_PORT: '0', OCDN_ADMIN_TOKEN: ADMIN_TOKEN, OCDN_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('the manager /healthz', async () => {
    if (child.exitCode !== null) throw new Error(`the launcher exited with ${child.exitCode}:\n${stderr}`);
    return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok;
  }, { timeoutMs: 60_000 });
  // The script execs node: its pid is the manager's.
  const environ = new Map(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  for (const [k, v] of Object.entries(MANAGER_LAUNCH_ENV)) assert.equal(environ.get(k), v, `the manager's ${k}`);
  const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
  if (MANAGER_LAUNCH_ENV.LD_PRELOAD) assert.match(maps, /libjemalloc\.so\.2/, 'jemalloc is mapped into the manager');
  else t.diagnostic('no libjemalloc.so.2 on this machine: the manager runs on glibc with its threshold');
  // gc-flags.ts: set by the manager itself, whatever launched it
  const flagged = stdout.split('\n').filter((l) => l.includes('"v8Flags"')).map((l) => JSON.parse(l).v8Flags as string[]);
  assert.deepEqual(flagged, [[...FOREGROUND_GC_FLAGS]], 'the manager logs the V8 flags it set, once');
  child.kill('SIGTERM');
  await waitFor('the manager gone', () => child.exitCode !== null || child.signalCode !== null, { timeoutMs: 20_000 });
});

for (const [unitFile, env] of [['ocdn-manager.service', MANAGER_LAUNCH_ENV], ['ocdn-agent.service', AGENT_LAUNCH_ENV]] as const) {
  test(`deploy/${unitFile} sets its launch environment before its EnvironmentFile`, () => {
    const unit = readFileSync(join(ROOT, 'deploy', unitFile), 'utf8').split('\n');
    const envFileAt = unit.findIndex((l) => l.startsWith('EnvironmentFile='));
    assert.ok(envFileAt > 0, 'the unit has an EnvironmentFile');
    for (const [k, v] of Object.entries(env)) {
      // jemalloc's path is Debian's in the unit, wherever this machine keeps it
      const at = k === 'LD_PRELOAD' ? unit.findIndex((l) => /^Environment=LD_PRELOAD=\/\S+\/libjemalloc\.so\.2$/.test(l)) : unit.indexOf(`Environment=${k}=${v}`);
      assert.ok(at >= 0, `the unit lacks Environment=${k}=${v}`);
      // systemd applies them in order: the operator's file has the last word
      assert.ok(at < envFileAt, `Environment=${k} comes after EnvironmentFile, which could not override it`);
    }
  });
}
