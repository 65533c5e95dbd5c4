// The agent's VOD file API and the download function, against a real agent process on 127.0.4.2: what a source
// serves, to whom, and what a download does when the file changes under it or the disk fills.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { open, truncate } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signFileUrl } from '@ocdn/protocol';
import { DownloadError, downloadFile, TokenBucket } from '../../apps/agent/src/vod/download.ts';
import { freePort, startAgentProcess, tempDir, type Proc } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';

const IP = '127.0.4.2';
const TOKEN = `nod_filesapitest0001.${'s'.repeat(32)}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('VOD file API of an agent', () => {
  const tmp = tempDir('vod-files');
  const dir = join(tmp.path, 'files');
  const outside = join(tmp.path, 'outside');
  let agent: Proc;
  let base: string;
  const body = randomBytes(256 * 1024);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const get = (path: string, headers: Record<string, string> = auth, method = 'GET') => fetch(`${base}${path}`, { headers, method });
  const signed = (name: string, node = 'nod_peer', expires = Math.floor(Date.now() / 1000) + 60) =>
    `/files/${encodeURIComponent(name)}?node=${node}&expires=${expires}&signature=${signFileUrl(TOKEN, name, node, expires)}`;

  before(async () => {
    mkdirSync(dir, { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(dir, 'movie.mpg'), body);
    writeFileSync(join(dir, 'other.mpg'), 'other');
    writeFileSync(join(dir, '.movie2.mpg.part'), 'partial');
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync(join(outside, 'secret'), join(dir, 'escape.mpg'));
    symlinkSync(join(dir, 'other.mpg'), join(dir, 'inside.mpg'));
    const port = await freePort(IP);
    const managerPort = await freePort(); // nothing listens there: the file API works without the manager
    agent = startAgentProcess(`http://127.0.0.1:${managerPort}`, TOKEN, IP, port, { OCDN_FILES_DIR: dir, OCDN_FILES_CAPACITY_BYTES: String(1024 * 1024), OCDN_LOG_LEVEL: 'warn' });
    base = `http://${IP}:${port}`;
    await waitFor('agent HTTP', async () => (await get('/heartbeat').catch(() => null))?.ok, { timeoutMs: 15_000 });
  });

  after(async () => {
    await agent?.stop();
    tmp.remove();
  });

  it('lists complete files only: no partial downloads, no symlink leaving the directory', async () => {
    const r = (await (await get("/files")).json()) as any;
    assert.deepEqual(r.items.map((f: { name: string }) => f.name), ['inside.mpg', 'movie.mpg', 'other.mpg']);
    assert.equal(r.items[1].size, body.length);
  });

  it('serves a file with ETag and ranges: 206 for a range, 416 past the end, the whole file when If-Range does not match', async () => {
    const full = await get('/files/movie.mpg');
    assert.equal(full.status, 200);
    assert.equal(full.headers.get('accept-ranges'), 'bytes');
    const etag = full.headers.get('etag')!;
    assert.deepEqual(Buffer.from(await full.arrayBuffer()), body);

    const part = await get('/files/movie.mpg', { ...auth, range: 'bytes=100-199' });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${body.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), body.subarray(100, 200));

    const tail = await get('/files/movie.mpg', { ...auth, range: 'bytes=-10', 'if-range': etag });
    assert.equal(tail.status, 206);
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), body.subarray(body.length - 10));

    const stale = await get('/files/movie.mpg', { ...auth, range: 'bytes=100-199', 'if-range': '"old"' });
    assert.equal(stale.status, 200, 'a changed file is sent whole');
    await stale.arrayBuffer();

    const past = await get('/files/movie.mpg', { ...auth, range: `bytes=${body.length}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${body.length}`);

    const head = await get('/files/movie.mpg', auth, 'HEAD');
    assert.equal(head.headers.get('content-length'), String(body.length));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it('states the sha-256 of the file when asked (Want-Repr-Digest)', async () => {
    const r = await get('/files/movie.mpg', { ...auth, 'want-repr-digest': 'sha-256=10', range: 'bytes=0-9' });
    assert.equal(r.headers.get('repr-digest'), `sha-256=:${Buffer.from(sha(body), 'hex').toString('base64')}:`);
    await r.arrayBuffer();
  });

  it('refuses traversal and odd names with 400, and a symlink out of the directory with 404', async () => {
    for (const path of ['/files/..%2Fsecret', '/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd', '/files/%2Fetc%2Fpasswd', '/files/a%00b', '/files/.movie2.mpg.part', '/files/%ZZ', '/files/..%5Csecret']) {
      const r = await get(path);
      assert.equal(r.status, 400, path);
      assert.match(((await r.json()) as any).error.message, /file name|percent-encoding/);
    }
    assert.equal((await get('/files/escape.mpg')).status, 404);
    assert.equal(await (await get('/files/inside.mpg')).text(), 'other', 'a symlink inside the directory is served');
    assert.equal((await get('/files/..%2Fsecret', {}, 'DELETE')).status, 401);
    assert.equal((await get('/files/..%2Fsecret', auth, 'DELETE')).status, 400);
  });

  it('serves a peer only through a URL the manager signed for that file, unexpired', async () => {
    assert.equal((await get('/files/movie.mpg', {})).status, 401, 'no token, no signature');
    assert.equal((await get('/files/movie.mpg', { authorization: 'Bearer nod_x.yyyyyyyyyyyyyyyyyyyyyyyy' })).status, 401);
    const ok = await get(signed('movie.mpg'), {});
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    assert.equal((await get(signed('movie.mpg').replace('movie.mpg?', 'other.mpg?'), {})).status, 403, 'signed for another file');
    assert.equal((await get(signed('movie.mpg').replace(/.$/, (c) => (c === '0' ? '1' : '0')), {})).status, 403, 'tampered');
    assert.equal((await get(signed('movie.mpg', 'nod_peer', 1_000), {})).status, 403, 'expired');
    assert.equal((await get(signed('movie.mpg').replace('node=nod_peer', 'node=nod_thief'), {})).status, 403, 'another node');
    assert.equal((await get('/files', {})).status, 401, 'the listing needs the node token');
  });

  it('reports its configured capacity in /df, and deletes a file: 204, then 404', async () => {
    const df = (await (await get("/df")).json()) as any;
    assert.equal(df.total, 1024 * 1024);
    assert.ok(df.used >= body.length && df.free === df.total - df.used);
    writeFileSync(join(dir, 'gone.mpg'), 'x');
    assert.equal((await get('/files/gone.mpg', auth, 'DELETE')).status, 204);
    assert.equal((await get('/files/gone.mpg', auth, 'DELETE')).status, 404);
    assert.ok(existsSync(join(outside, 'secret')));
  });

  it('cuts the body short when the file shrinks while it is served, rather than leaving the client waiting', async () => {
    const name = 'shrinks.mpg';
    writeFileSync(join(dir, name), randomBytes(64 * 1024 * 1024));
    const res = await new Promise<IncomingMessage>((resolve, reject) => httpGet(`${base}/files/${name}`, { headers: auth }, resolve).on('error', reject));
    res.pause(); // the agent fills the socket buffers and waits
    assert.equal(res.headers['content-length'], String(64 * 1024 * 1024));
    await truncate(join(dir, name), 1024 * 1024);
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const c of res) got += (c as Buffer).length;
      })(),
      /aborted|ECONNRESET|socket hang up/,
    );
    assert.ok(got < 64 * 1024 * 1024, `got ${got} bytes`);
  });

  it('a download fails its checksum when the file changes on the source meanwhile, and leaves no file', async () => {
    const name = 'changing.mpg';
    const MiB = 1024 * 1024;
    writeFileSync(join(dir, name), randomBytes(40 * MiB));
    const into = join(tmp.path, 'dl-changing');
    mkdirSync(into);
    // 8 MiB/s: about four seconds for the file. The last 16 MiB change once 9 MiB arrived, long before the source
    // reads them (what it has read ahead sits in socket buffers of a few MiB).
    const bucket = new TokenBucket(8 * MiB);
    const part = join(into, `.${name}.part`);
    const changed = (async () => {
      await waitFor('9 MiB downloaded', () => existsSync(part) && statSync(part).size > 9 * MiB, { intervalMs: 5, timeoutMs: 20_000 });
      const fh = await open(join(dir, name), 'r+');
      await fh.write(randomBytes(16 * MiB), 0, 16 * MiB, 24 * MiB);
      await fh.close();
    })();
    await assert.rejects(downloadFile({ url: `${base}${signed(name, 'nod_dl')}`, dir: into, name, signal: AbortSignal.timeout(20_000), bucket }), (err: Error) => {
      assert.ok(err instanceof DownloadError);
      assert.match(err.message, /checksum mismatch/);
      return true;
    });
    await changed;
    assert.deepEqual(readdirSync(into), [], 'neither the file nor a partial is left');
  });

  it('a download onto a full disk fails with the reason, under no real name', async (t) => {
    const into = join(tmp.path, 'dl-full');
    mkdirSync(into);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', into], { stdio: 'pipe' });
    } catch (err) {
      if (process.env.CI === 'true') throw new Error(`cannot mount a small tmpfs under CI=true: ${(err as Error).message}`);
      return t.skip('cannot mount a tmpfs here (needs root)');
    }
    try {
      await assert.rejects(downloadFile({ url: `${base}${signed('movie.mpg', 'nod_dl')}`, dir: into, name: 'movie.mpg', signal: AbortSignal.timeout(20_000) }).catch(() => null).then(async () => {
        writeFileSync(join(dir, 'big.mpg'), randomBytes(1024 * 1024));
        return downloadFile({ url: `${base}${signed('big.mpg', 'nod_dl')}`, dir: into, name: 'big.mpg', signal: AbortSignal.timeout(20_000) });
      }), /ENOSPC|no space/i);
      assert.ok(!existsSync(join(into, 'big.mpg')), 'no file under the real name');
    } finally {
      execFileSync('umount', [into]);
    }
  });
});
