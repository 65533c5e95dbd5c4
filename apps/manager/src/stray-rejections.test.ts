import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

/** Runs a process that installs the handler and leaves `rejection` unhandled; its exit code and output. */
function runWith(rejection: string): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ocdn-stray-'));
  try {
    const script = join(dir, 'main.ts');
    writeFileSync(
      script,
      `import { createLogger } from ${JSON.stringify(new URL('./log.ts', import.meta.url).pathname)};
import { survivingLostConnections } from ${JSON.stringify(new URL('./stray-rejections.ts', import.meta.url).pathname)};
survivingLostConnections(createLogger('info'));
void Promise.reject(${rejection});
setTimeout(() => { console.log('still running'); process.exit(0); }, 300);
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('unhandled rejections', () => {
  it('survives one that only says a connection was lost, and logs it', () => {
    const r = runWith(`Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })`);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /still running/);
    assert.match(r.out, /a lost connection was left unhandled/);
  });
  it('survives PostgreSQL ending the session (57P01, as pg-boss leaves it unhandled while the server shuts down)', () => {
    const r = runWith(`Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' })`);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /a lost connection was left unhandled/);
  });
  it('ends the process on any other', () => {
    const r = runWith(`Object.assign(new Error('a bug'), { code: '23505' })`);
    assert.equal(r.status, 1, r.out);
    assert.doesNotMatch(r.out, /still running/);
    assert.match(r.out, /unhandled rejection/);
  });
});
