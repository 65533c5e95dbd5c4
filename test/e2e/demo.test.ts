// `npm run demo` as a newcomer runs it: it comes up, what it prints works (curl through each cache, dig), and Ctrl-C
// stops every process it started.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { ROOT } from '../support/procs.ts';
import { requireProgram } from '../support/programs.ts';
import { waitFor } from '../support/wait.ts';

/** GET with a Host header (fetch would send the URL's host instead). */
function get(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm run demo', () => {
  it('brings up a two-node CDN lab, prints commands that work, and stops everything on Ctrl-C', async (t) => {
    if (!requireProgram(t, 'nginx') || !requireProgram(t, 'dig')) return;
    const demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => demo.once('exit', (code) => r(code)));
    t.after(async () => {
      if (demo.exitCode !== null) return;
      demo.kill('SIGINT'); // the demo stops what it started
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (demo.exitCode === null) demo.kill('SIGKILL');
    });
    await waitFor('the demo to be ready', () => {
      if (demo.exitCode !== null) throw new Error(`demo exited:\n${out}`);
      return out.includes('ocdn demo: ready');
    }, { timeoutMs: 120_000, intervalMs: 200 });

    const curls = [...out.matchAll(/^ {2}curl -i -H 'Host: ([^']+)' (http:\/\/\S+)/gm)];
    assert.equal(curls.length, 2, out);
    for (const [, host, url] of curls) {
      const body = await waitFor(`${url} through nginx`, () => get(url!, host!).then((r) => (r.status === 200 ? r.body : null), () => null));
      assert.match(body, /^hello from the origin: demo\.example\.com\/hello/);
    }
    const dig = /^ {2}dig @(\S+) -p (\d+) (\S+) A \+short/m.exec(out);
    assert.ok(dig, out);
    const answer = spawnSync('dig', [`@${dig[1]}`, '-p', dig[2]!, dig[3]!, 'A', '+short', '+time=2', '+tries=1'], { encoding: 'utf8' }).stdout.trim().split('\n').sort();
    assert.deepEqual(answer, ['127.0.0.2', '127.0.0.3']);

    const pids = [...out.matchAll(/agent pid (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 2);
    const dir = /removes (\S+)\)/.exec(out)?.[1];
    assert.ok(dir, out);
    const nginxPids = spawnSync('pgrep', ['-f', `nginx -p ${dir}/`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
    assert.ok(nginxPids.length >= 2, 'the private nginx masters run');
    demo.kill('SIGINT');
    assert.equal(await exited, 0);
    for (const pid of [...pids, ...nginxPids]) await waitFor(`process ${pid} gone`, () => !alive(pid), { timeoutMs: 15_000 });
    assert.match(out, /stopping everything/);
  });
});
