import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCommand } from './exec.ts';

describe('runCommand (real programs)', () => {
  it('succeeds with what the program said, stderr first', async () => {
    assert.deepEqual(await runCommand(['sh', '-c', 'echo out; echo err >&2'], 5_000), { ok: true, output: 'err\nout' });
    assert.deepEqual(await runCommand(['true'], 5_000), { ok: true, output: '' });
  });

  it('fails on a non-zero exit with the output, or says how it failed when there is none', async () => {
    assert.deepEqual(await runCommand(['sh', '-c', 'echo "nginx: [emerg] unknown directive" >&2; exit 1'], 5_000), { ok: false, output: 'nginx: [emerg] unknown directive' });
    const silent = await runCommand(['false'], 5_000);
    assert.equal(silent.ok, false);
    assert.match(silent.output, /Command failed: false/);
  });

  it('fails on a missing program, and takes arguments as they are (no shell)', async () => {
    const missing = await runCommand(['/nonexistent/nginx', '-t'], 5_000);
    assert.equal(missing.ok, false);
    assert.match(missing.output, /ENOENT/);
    assert.deepEqual(await runCommand(['echo', '$HOME; rm -rf /'], 5_000), { ok: true, output: '$HOME; rm -rf /' });
  });

  it('stops a program at the timeout, and one that reads stdin sees its end at once', async () => {
    const t0 = performance.now();
    const slow = await runCommand(['sleep', '10'], 300);
    assert.equal(slow.ok, false);
    assert.match(slow.output, /sleep timed out after 300 ms/);
    assert.ok(performance.now() - t0 < 5_000);
    assert.deepEqual(await runCommand(['cat'], 5_000), { ok: true, output: '' });
  });

  it('keeps the last 4,000 characters of a long output', async () => {
    const r = await runCommand(['sh', '-c', 'head -c 10000 /dev/zero | tr "\\0" x; echo END'], 5_000);
    assert.equal(r.ok, true);
    assert.equal(r.output.length, 4000);
    assert.ok(r.output.endsWith('END'));
  });
});
