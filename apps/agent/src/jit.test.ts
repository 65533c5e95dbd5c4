import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_CJS } from '../../../test/support/procs.ts';
import { jitFlag } from './jit.ts';

describe('the agent without an optimizing compiler', () => {
  it('runs at --max-opt=1 unless node was given a compiler flag of its own', () => {
    assert.equal(jitFlag([]), '--max-opt=1');
    assert.equal(jitFlag(['--enable-source-maps', '--max-old-space-size=256']), '--max-opt=1');
    for (const own of ['--max-opt=4', '--opt', '--no-opt', '--turbofan', '--maglev', '--no-sparkplug']) assert.equal(jitFlag([own]), null, own);
  });

  it('the bundle, once started, lets V8 optimize nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocdn-jit-'));
    try {
      // The bundle's main() sets the flag before its first await; the hot loop runs after it, in the same process.
      const hot = `require(${JSON.stringify(AGENT_CJS)});
        function f(x) { let s = 0; for (let i = 0; i < 1000; i++) s += (x * i) % 7; return s; }
        let t = 0; for (let i = 0; i < 100000; i++) t += f(i);
        process.exit(0);`;
      const env = {
        PATH: process.env.PATH ?? '',
        OCDN_MANAGER_URL: 'http://127.0.0.1:1', // nothing there: the link retries, the agent stays up
        OCDN_NODE_TOKEN: 'nod_jittest01.abcdefghijklmnopqrstuvwxyz',
        OCDN_AGENT_HOST: '127.0.0.1',
        OCDN_AGENT_PORT: '0',
        OCDN_NGINX_CONF_DIR: join(dir, 'conf'),
        OCDN_NGINX_CACHE_DIR: join(dir, 'cache'),
        OCDN_FILES_DIR: join(dir, 'files'),
        OCDN_LOG_LEVEL: 'silent',
      };
      const traced = (extra: Record<string, string>) => execFileSync(process.execPath, ['--trace-opt', '-e', hot], { encoding: 'utf8', env: { ...env, ...extra }, timeout: 30_000 });
      assert.match(traced({ OCDN_AGENT_NO_MAIN: '1' }), /completed (compiling|optimizing)/, 'optimized when the agent does not start');
      assert.doesNotMatch(traced({}), /completed (compiling|optimizing)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
