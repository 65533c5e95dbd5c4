import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NginxDriver } from '../../apps/agent/src/cdn/nginx.ts';
import { confinedPath } from '../../apps/agent/src/cdn/files.ts';
import { createLogger } from '../../apps/agent/src/log.ts';
import { OCDN_MAKE_CONF } from '../../apps/manager/src/domains/make-conf.ts';
import { getWithHost } from '../support/http.ts';
import { freePort, tempDir } from '../support/procs.ts';
import { requireProgram } from '../support/programs.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { waitFor } from '../support/wait.ts';

const IP = '127.0.0.5';

const get = (port: number, host: string, path = '/') => getWithHost(IP, port, host, path);

describe('cdn driver on real nginx (OCDN_MAKE_CONF, OCDN_SYNC_CONF, OCDN_NODE_RELOAD, OCDN_VER_CONF, OCDN_DEL_CONF)', () => {
  const dir = tempDir('nginx');
  let nginx: NginxInstance | undefined;
  let driver: NginxDriver;
  let origin: Server;
  let originPort: number;
  let port: number;
  const conf = (domain: string, version: number, origins = [`http://127.0.0.1:${originPort}`]) =>
    OCDN_MAKE_CONF({ domain, cname: `${domain.replaceAll('.', '-')}.cdn.ocdn.test`, origins, version, listen: `${IP}:${port}` });

  before(async (t) => {
    const nginxPath = requireProgram(t, 'nginx');
    if (!nginxPath) return;
    originPort = await freePort();
    port = await freePort(IP);
    origin = createServer((req, res) => {
      res.setHeader('cache-control', 'no-store');
      res.end(`origin says hi to ${req.headers.host} for ${req.url} xff=${req.headers['x-forwarded-for']}`);
    }).listen(originPort, '127.0.0.1');
    nginx = startNginx(nginxPath, dir.path);
    driver = new NginxDriver({ confDir: nginx.confDir, cacheDir: nginx.cacheDir, testCmd: nginx.testCmd, reloadCmd: nginx.reloadCmd, log: createLogger('silent'), coalesceMs: 50 });
    await driver.start();
  });
  after(() => {
    nginx?.stop();
    origin?.close();
    dir.remove();
  });

  it('serves a synced domain through nginx from its origin', async (t) => {
    if (!nginx) return t.skip('missing program: nginx');
    const info = await driver.sync('shop.example.com', 1, conf('shop.example.com', 1));
    assert.equal(info.version, 1);
    assert.match(info.hash!, /^[0-9a-f]{64}$/);
    const r = await driver.reload('shop.example.com');
    assert.equal(r.reloaded, true);
    const res = await waitFor('nginx to serve the domain', async () => {
      const x = await get(port, 'shop.example.com', '/a.mp4').catch(() => null);
      return x?.status === 200 ? x : null;
    });
    assert.match(res.body, /^origin says hi to shop\.example\.com for \/a\.mp4 xff=127\.0\.0\.1/);
    assert.equal(res.headers['x-ocdn-config-version'], '1');
    const byCname = await get(port, 'shop-example-com.cdn.ocdn.test');
    assert.equal(byCname.status, 200);
    assert.deepEqual(await driver.info('shop.example.com'), info);
  });

  it('keeps the working config when nginx refuses a new one, and reports nginx\'s message', async (t) => {
    if (!nginx) return t.skip('missing program: nginx');
    const broken = conf('shop.example.com', 2).replace('proxy_cache_lock on;', 'proxy_cache_lock on;\n        no_such_directive 1;');
    await driver.sync('shop.example.com', 2, broken);
    await assert.rejects(driver.reload('shop.example.com'), (e: Error) => /unknown directive "no_such_directive"/.test(e.message) && e.message.includes('shop.example.com.conf'));
    assert.equal((await driver.info('shop.example.com')).version, 1, 'previous file restored');
    const res = await get(port, 'shop.example.com');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-ocdn-config-version'], '1');
  });

  it('restores only the file nginx blames: other domains in the same reload go live', async (t) => {
    if (!nginx) return t.skip('missing program: nginx');
    await driver.sync('good.example.com', 1, conf('good.example.com', 1));
    await driver.sync('bad.example.com', 1, conf('bad.example.com', 1).replace('keepalive 16;', 'keepalive sixteen;'));
    const [good, bad] = await Promise.allSettled([driver.reload('good.example.com'), driver.reload('bad.example.com')]);
    assert.equal(good.status, 'fulfilled');
    assert.equal(bad.status, 'rejected');
    assert.equal(existsSync(join(nginx.confDir, 'bad.example.com.conf')), false, 'a new broken file is removed');
    const res = await waitFor('good domain live', async () => {
      const x = await get(port, 'good.example.com');
      return x.body.includes('good.example.com') ? x : null;
    });
    assert.equal(res.status, 200);
  });

  /**
   * A driver whose reload command leaves a new file behind; the files' modification times are the reloads' times.
   * Both commands start in a millisecond or so (coreutils), so the times are the driver's, not a runtime's start-up.
   */
  const recordingDriver = async (name: string, timing: { coalesceMs: number; minIntervalMs?: number; maxIntervalMs?: number }) => {
    const dir = tempDir(name);
    const calls = join(dir.path, 'calls');
    mkdirSync(calls);
    const rec = new NginxDriver({
      confDir: join(dir.path, 'conf'),
      cacheDir: join(dir.path, 'cache'),
      testCmd: ['true'],
      reloadCmd: ['mktemp', '-p', calls, 'reload.XXXXXXXX'],
      log: createLogger('silent'),
      ...timing,
    });
    await rec.start();
    const reloads = () => readdirSync(calls).map((f) => Math.round(statSync(join(calls, f)).mtimeMs)).sort((a, b) => a - b);
    return { rec, reloads, remove: () => dir.remove() };
  };

  it('coalesces reloads requested together into one', async () => {
    const { rec, reloads, remove } = await recordingDriver('reload-rec', { coalesceMs: 100 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => rec.reload(`d${i}.example.com`)));
    assert.ok(results.every((r) => r.coalesced === 20));
    assert.equal(reloads().length, 1);
    await rec.reload();
    assert.equal(reloads().length, 2, 'a later request gets its own reload');
    remove();
  });

  it('under load starts reloads up to the minimum interval apart; one change at a time waits only the window', async () => {
    const interval = 3000;
    const { rec, reloads, remove } = await recordingDriver('reload-interval', { coalesceMs: 20, minIntervalMs: interval });
    // One change at a time: each reload follows its request by a window, not by the interval.
    for (let i = 0; i < 3; i++) await rec.reload(`one${i}.example.com`);
    const lone = reloads();
    assert.equal(lone.length, 3);
    // A burst of 30 shares one reload; requests trickling in after it (each more than a window apart) share the next
    // one, which waits the interval instead of a window.
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => rec.reload(`b${i}.example.com`)));
    assert.ok(burst.every((r) => r.coalesced === 30));
    // Each trickling request at least a window after the previous one (a loaded machine only widens the gaps).
    const pending: Promise<{ coalesced: number }>[] = [];
    for (let i = 0; i < 6; i++) {
      pending.push(rec.reload(`d${i}.example.com`));
      await new Promise((r) => setTimeout(r, 40));
    }
    const trickle = await Promise.all(pending);
    const times = reloads();
    assert.equal(times.length, 5, 'three lone reloads, the burst, and one for everything that trickled in after it');
    assert.ok(times[4]! - times[3]! >= interval - 200, `the reload after the burst came ${times[4]! - times[3]!} ms after it (interval ${interval})`);
    // The lone reloads did not wait the interval: each followed the previous one sooner than the post-burst reload did.
    assert.ok(Math.max(lone[1]! - lone[0]!, lone[2]! - lone[1]!) < times[4]! - times[3]!, `lone reloads ${lone[1]! - lone[0]!} and ${lone[2]! - lone[1]!} ms apart`);
    assert.ok(trickle.every((r) => r.coalesced === 6));
    remove();
  });

  it('under sustained load the interval doubles up to the maximum, and is back to the minimum after a quiet spell', async () => {
    const [min, max] = [300, 2400];
    const { rec, reloads, remove } = await recordingDriver('reload-adaptive', { coalesceMs: 20, minIntervalMs: min, maxIntervalMs: max });
    // A request every 10 ms for ~6.5 s: every reload coalesces several (the window is 20 ms).
    const load = async (ms: number, tag: string) => {
      const pending: Promise<unknown>[] = [];
      for (const until = Date.now() + ms; Date.now() < until; ) {
        pending.push(rec.reload(`${tag}${pending.length}.example.com`));
        await new Promise((r) => setTimeout(r, 10));
      }
      await Promise.all(pending);
    };
    await load(6500, 'a');
    // Gaps between reloads (times are taken inside the reload command, give or take its start-up): min, 2 × min,
    // 4 × min, then max and max again; a loaded machine only widens them.
    const gaps = reloads().slice(1).map((t, i) => t - reloads()[i]!);
    const seen = `gaps ${gaps.join(', ')} ms`;
    // (max = 8 × min: the three gaps before the first at the maximum are at least max / 2, max / 4 and max / 8 = min)
    const peak = gaps.findIndex((g) => g >= max - 60);
    assert.ok(peak >= 3, `the maximum was reached after three doublings (${seen})`);
    for (const back of [1, 2, 3]) assert.ok(gaps[peak - back]! >= max / 2 ** back - 60, `gap ${peak - back} (${seen})`);
    assert.ok(gaps[peak - 3]! < 2 * min - 60, `the doubling started at the minimum (${seen})`);
    assert.ok(gaps.slice(peak).every((g) => g >= max - 60), `once at the maximum the interval stayed there (${seen})`);
    assert.ok(gaps.length <= 8, `${gaps.length + 1} reloads in 6.5 s of load, not one per ${min} ms (${seen})`);
    // Quiet for longer than the interval reached: the reload after the next burst waits the minimum again.
    await new Promise((r) => setTimeout(r, max + 200));
    const before = reloads().length;
    const burst = Promise.all(Array.from({ length: 10 }, (_, i) => rec.reload(`burst${i}.example.com`)));
    await load(1000, 'b');
    await burst;
    const next = reloads().slice(before);
    assert.ok(next.length >= 2, `reloads after the quiet spell: ${next.length}`);
    assert.ok(next[1]! - next[0]! < max - 600, `the interval after a quiet spell was ${next[1]! - next[0]!} ms, not back to ${min}`);
    remove();
  });

  it('deletes a domain: nginx stops serving it and the file is gone', async (t) => {
    if (!nginx) return t.skip('missing program: nginx');
    assert.deepEqual(await driver.remove('shop.example.com'), { domain: 'shop.example.com', deleted: true });
    assert.deepEqual(await driver.remove('good.example.com'), { domain: 'good.example.com', deleted: true });
    await driver.reload();
    assert.equal(existsSync(join(nginx.confDir, 'shop.example.com.conf')), false);
    // No server block is left on that address: nginx stops listening there.
    await waitFor('nginx to stop serving', async () => {
      const x = await get(port, 'shop.example.com').catch((e: NodeJS.ErrnoException) => e.code);
      return x === 'ECONNREFUSED';
    });
    assert.deepEqual(await driver.remove('shop.example.com'), { domain: 'shop.example.com', deleted: false });
    assert.deepEqual(await driver.info('shop.example.com'), { domain: 'shop.example.com', version: null, hash: null });
  });

  it('refuses a config whose header does not name the domain and version, and names outside its directory', async (t) => {
    if (!nginx) return t.skip('missing program: nginx');
    await assert.rejects(driver.sync('x.example.com', 3, conf('y.example.com', 3)), /must start with "# ocdn domain=x\.example\.com version=3"/);
    for (const name of ['../evil.conf', '/etc/passwd', 'a/b.conf', 'a\0.conf']) assert.throws(() => confinedPath(nginx!.confDir, name), /leaves/);
  });
});
