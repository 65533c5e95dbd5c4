// The download client against sources that misbehave in ways a real agent never does (a broken head, a chunked
// body, silence, a dropped connection): each a plain TCP peer on loopback, so every byte on the wire is the test's.
// The happy path against a real source agent is in test/e2e/vod-files.test.ts and test/e2e/vod.test.ts.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { waitFor } from '../../../../test/support/wait.ts';
import { DownloadError, downloadFile, partialBytes, partPath, TokenBucket, type DownloadOptions } from './download.ts';

const MiB = 1024 * 1024;
const FILE = randomBytes(6 * MiB + 12345);
const SHA = createHash('sha256').update(FILE).digest();
const digest = (sha = SHA) => `Repr-Digest: sha-256=:${sha.toString('base64')}:`;

type Handler = (sock: Socket, request: string, n: number) => void;

/** A TCP peer: `handler` gets each connection once its request head has arrived. */
function peer(handler: Handler): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((sock) => {
    let got = '';
    const onData = (c: Buffer) => {
      got += c.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      requests.push(got.slice(0, end));
      handler(sock, got.slice(0, end), requests.length);
    };
    sock.on('data', onData);
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/files/f.mpg?sig=1`, server, requests })));
}

const head = (status: string, fields: string[]) => `HTTP/1.1 ${status}\r\n${fields.join('\r\n')}\r\n\r\n`;
const whole = (fields: string[] = [digest(), 'ETag: "e1"']) => head('200 OK', [`Content-Length: ${FILE.length}`, ...fields]);

describe('download client', () => {
  let dir: string;
  const servers: Server[] = [];
  before(() => (dir = mkdtempSync(join(tmpdir(), 'ocdn-dl-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
    for (const n of readdirSync(dir)) rmSync(join(dir, n), { force: true });
  });
  const serve = async (handler: Handler) => {
    const p = await peer(handler);
    servers.push(p.server);
    return p;
  };
  const get = (url: string, more: Partial<DownloadOptions> = {}) => downloadFile({ url, dir, name: 'f.mpg', signal: AbortSignal.timeout(20_000), ...more });

  it('downloads, checks and renames; asks for the digest; stops at Content-Length', async () => {
    const { url, requests } = await serve((s) => s.end(Buffer.concat([Buffer.from(whole()), FILE, Buffer.from('trailing garbage')])));
    const r = await get(url);
    assert.deepEqual(r, { bytes: FILE.length, sha256: SHA.toString('hex'), resumedFrom: 0 });
    assert.ok(readFileSync(join(dir, 'f.mpg')).equals(FILE));
    assert.deepEqual(readdirSync(dir), ['f.mpg'], 'no partial or state file left');
    assert.match(requests[0]!, /^GET \/files\/f\.mpg\?sig=1 HTTP\/1\.1\r\n/);
    assert.match(requests[0]!, /\r\nWant-Repr-Digest: sha-256=10/);
    assert.doesNotMatch(requests[0]!, /\r\nRange:/);
  });

  it('resumes from the bytes on disk with Range and If-Range, and counts them in the checksum', async () => {
    const had = 2 * MiB + 17;
    writeFileSync(partPath(dir, 'f.mpg'), FILE.subarray(0, had));
    writeFileSync(join(dir, '.f.mpg.part.json'), JSON.stringify({ etag: '"e1"' }));
    const { url, requests } = await serve((s) =>
      s.end(Buffer.concat([Buffer.from(head('206 Partial Content', [`Content-Length: ${FILE.length - had}`, `Content-Range: bytes ${had}-${FILE.length - 1}/${FILE.length}`, digest(), 'ETag: "e1"'])), FILE.subarray(had)])),
    );
    const r = await get(url);
    assert.equal(r.resumedFrom, had);
    assert.match(requests[0]!, new RegExp(`\\r\\nRange: bytes=${had}-\\r\\nIf-Range: "e1"`));
    assert.ok(readFileSync(join(dir, 'f.mpg')).equals(FILE));
  });

  it('starts over on a 200 to a resume (the file changed), truncating the stale bytes', async () => {
    writeFileSync(partPath(dir, 'f.mpg'), randomBytes(FILE.length + 100));
    writeFileSync(join(dir, '.f.mpg.part.json'), JSON.stringify({ etag: '"old"' }));
    const { url } = await serve((s) => s.end(Buffer.concat([Buffer.from(whole()), FILE])));
    const r = await get(url);
    assert.equal(r.resumedFrom, 0);
    assert.ok(readFileSync(join(dir, 'f.mpg')).equals(FILE));
  });

  it('does not send a saved validator that is not an entity tag: the partial is dropped instead', async () => {
    writeFileSync(partPath(dir, 'f.mpg'), FILE.subarray(0, 100));
    writeFileSync(join(dir, '.f.mpg.part.json'), JSON.stringify({ etag: '"x"\r\nX-Injected: 1' }));
    const { url, requests } = await serve((s) => s.end(Buffer.concat([Buffer.from(whole()), FILE])));
    await get(url);
    assert.doesNotMatch(requests[0]!, /Injected|Range/);
  });

  it('keeps the bytes of a dropped connection (under a hidden name) and says how far it got', async () => {
    const sent = 5 * MiB;
    const { url } = await serve((s) => {
      s.write(whole());
      s.write(FILE.subarray(0, sent), () => setImmediate(() => s.destroy()));
    });
    await assert.rejects(get(url), (e: Error) => e instanceof DownloadError && /source closed the connection after \d+ of \d+ bytes/.test(e.message) && !e.discard);
    assert.ok(!existsSync(join(dir, 'f.mpg')));
    const kept = await partialBytes(dir, 'f.mpg');
    assert.ok(kept <= sent && readFileSync(partPath(dir, 'f.mpg')).equals(FILE.subarray(0, kept)), 'what is kept is a prefix of the file');
  });

  it('removes the partial file when the checksum does not match', async () => {
    const wrong = createHash('sha256').update('other').digest();
    const { url } = await serve((s) => s.end(Buffer.concat([Buffer.from(whole([digest(wrong), 'ETag: "e1"'])), FILE])));
    await assert.rejects(get(url), /checksum mismatch: got sha256 [0-9a-f]{64}, source stated [0-9a-f]{64}/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('refuses an unverifiable or unframed body and a broken head, with the reason', async () => {
    const cases: [string, RegExp][] = [
      [head('200 OK', [`Content-Length: ${FILE.length}`, 'ETag: "e1"']), /no sha-256 digest/],
      [head('200 OK', ['Transfer-Encoding: chunked', digest()]), /chunked-coded body/],
      [head('200 OK', [digest()]), /stated no length/],
      [head('206 Partial Content', ['Content-Length: 10', 'Content-Range: bytes 0-9/20', digest()]), /range other than the one asked/],
      ['HTTP/1.1 200 OK\r\nContent-Length 5\r\n\r\n', /malformed answer: malformed response header line/],
      ['SSH-2.0-OpenSSH_9.2\r\n\r\n', /malformed answer: not an HTTP\/1\.x status line/],
    ];
    for (const [answer, why] of cases) {
      const { url } = await serve((s) => s.end(answer));
      await assert.rejects(get(url), (e: Error) => e instanceof DownloadError && why.test(e.message), answer);
      assert.ok(!existsSync(join(dir, 'f.mpg')));
    }
  });

  it('reports a refusal with its status and the body the source gave', async () => {
    const body = JSON.stringify({ error: { code: 'forbidden', message: 'signature expired' } });
    const { url } = await serve((s) => s.end(head('403 Forbidden', [`Content-Length: ${body.length}`, 'Content-Type: application/json']) + body));
    await assert.rejects(get(url), /source answered HTTP 403: .*signature expired/);
  });

  it('drops the partial file on a 416 (what it holds is no prefix of the file any more)', async () => {
    writeFileSync(partPath(dir, 'f.mpg'), FILE.subarray(0, 100));
    writeFileSync(join(dir, '.f.mpg.part.json'), JSON.stringify({ etag: '"e1"' }));
    const { url } = await serve((s) => s.end(head('416 Range Not Satisfiable', ['Content-Length: 0', 'Content-Range: bytes */50'])));
    await assert.rejects(get(url), /refused the resume range/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('gives up on a source that goes silent, and on a source that is not there', async () => {
    const { url } = await serve((s) => s.write(whole()));
    await assert.rejects(get(url, { idleTimeoutMs: 300 }), /source sent nothing for 300 ms/);
    const closed = await serve(() => {});
    closed.server.close();
    await waitFor('port closed', () => !closed.server.listening, { timeoutMs: 5000 });
    await assert.rejects(get(closed.url), /source connection failed: connect ECONNREFUSED/);
    await assert.rejects(get('ftp://127.0.0.1:1/x'), /must be http: or https:/);
    // https is spoken (a TLS source): a closed port is a connection failure, not a refused scheme
    await assert.rejects(get('https://127.0.0.1:1/x'), /source connection failed/);
    const ac = new AbortController();
    ac.abort(new Error('stopped before it began'));
    await assert.rejects(get(closed.url, { signal: ac.signal }), /stopped before it began/);
  });

  it('stops on abort, keeping what is on disk for a resume', async () => {
    const { url } = await serve((s) => {
      s.write(whole());
      s.write(FILE.subarray(0, 5 * MiB)); // then nothing: the download waits
    });
    const ac = new AbortController();
    const done = get(url, { signal: ac.signal });
    await waitFor('a slot on disk', () => existsSync(partPath(dir, 'f.mpg')) && statSync(partPath(dir, 'f.mpg')).size > 0, { timeoutMs: 10_000, intervalMs: 10 });
    ac.abort(new Error('agent stopping'));
    await assert.rejects(done, /agent stopping/);
    assert.ok((await partialBytes(dir, 'f.mpg')) > 0);
    assert.ok(!existsSync(join(dir, 'f.mpg')));
  });

  it('keeps to the bandwidth cap', async () => {
    const { url } = await serve((s) => s.end(Buffer.concat([Buffer.from(whole()), FILE])));
    const t0 = performance.now();
    const progress: number[] = [];
    await get(url, { bucket: new TokenBucket(2 * MiB), onProgress: (b) => progress.push(b), progressMs: 100 });
    const s = (performance.now() - t0) / 1000;
    // A full bucket lets the first 2 MiB through at once; the other 4+ MiB take 2 s at 2 MiB/s.
    assert.ok(s >= 1.8, `6 MiB at 2 MiB/s took only ${s.toFixed(2)} s`);
    assert.ok(progress.length >= 3 && progress.every((b, i) => i === 0 || b > progress[i - 1]!), `progress grows: ${progress}`);
  });
});
