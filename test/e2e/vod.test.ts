// VOD placement end to end: the manager (VOD loops on, a metadata folder), two VOD servers and one source server,
// each a real agent process on its own loopback address with its own file directory.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';

const KB = 1024;
const MB = 1024 * KB;
const CAPACITY = 40 * MB;
const HIGH = 80;
const LOW = 78.5; // close to HIGH, so that going past HIGH evicts some of a server's files, not all
const BANDWIDTH = 4 * MB; // bytes/s per VOD server: slow enough to interrupt a large download on purpose

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const visible = (dir: string) => readdirSync(dir).filter((n) => !n.startsWith('.')).sort();

interface Server {
  name: string;
  ip: string;
  port: number;
  dir: string;
  id: string;
  token: string;
  env: Record<string, string>;
  proc: Proc;
}

describe('VOD placement end to end (two VOD servers, one source)', () => {
  const tmp = tempDir('vod-e2e');
  const metaDir = join(tmp.path, 'meta');
  let m: ManagerHandle;
  let tdb: TestDatabase | undefined;
  const servers: Record<'vod1' | 'vod2' | 'src', Server> = {} as never;
  // 8 small files ranked 1..8 on the source.
  const small = Array.from({ length: 8 }, (_, i) => `f${i + 1}.mpg`);
  const ranks: [string, number][] = small.map((n, i) => [n, i + 1]);
  const sizes = new Map<string, number>();

  const writeMeta = () => {
    writeFileSync(join(metaDir, '.grade.info'), '# file\trank\n' + ranks.map(([n, r]) => `${n}\t${r}`).join('\n') + '\nbroken line without a tab\n');
    writeFileSync(join(metaDir, '.hitcount.history'), [...sizes].map(([n, s]) => `${n}\t${s}\t10`).join('\n') + '\n');
  };
  const addSourceFile = (name: string, size: number, rank: number) => {
    writeFileSync(join(servers.src.dir, name), randomBytes(size));
    sizes.set(name, size);
    ranks.push([name, rank]);
    writeMeta();
  };
  const startServer = (s: Server) => {
    s.proc = startAgentProcess(m.url, s.token, s.ip, s.port, s.env);
  };
  const agentJson = async (s: Server, path: string) => (await fetch(`http://${s.ip}:${s.port}${path}`, { headers: { authorization: `Bearer ${s.token}` } })).json() as Promise<any>;
  const holders = (name: string) => (['vod1', 'vod2'] as const).filter((k) => existsSync(join(servers[k].dir, name)));
  const queued = async () => (await m.json('/api/v1/vod/tasks?limit=1000')).items.filter((t: any) => t.queued);

  before(async () => {
    mkdirSync(metaDir);
    if (process.env.TEST_DATABASE_URL) tdb = await createTestDatabase('postgres');
    m = await startManagerProcess({
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : { OCDN_DATA_DIR: join(tmp.path, 'data') }),
      OCDN_VOD_META_DIR: metaDir,
      OCDN_VOD_LOOP_MS: '300',
      OCDN_VOD_SOURCE_CONCURRENCY: '1',
      OCDN_VOD_DISK_HIGH: String(HIGH),
      OCDN_VOD_DISK_LOW: String(LOW),
      // An agent restart (the resume test) must not look like a dead server.
      OCDN_FAULT_AFTER: '5',
      OCDN_LOG_LEVEL: 'info',
    });
    const specs = [
      ['vod1', '127.0.3.2', ['vod']],
      ['vod2', '127.0.3.3', ['vod']],
      ['src', '127.0.3.4', ['vod-source']],
    ] as const;
    for (const [name, ip, roles] of specs) {
      const port = await freePort(ip);
      const dir = join(tmp.path, name);
      mkdirSync(dir);
      const r = await m.json('/api/v1/nodes', { method: 'POST', body: JSON.stringify({ name, ip, roles, agentPort: port }) });
      const env: Record<string, string> = { OCDN_FILES_DIR: dir, OCDN_LOG_LEVEL: 'info', OCDN_VOD_POLL_MS: '1000', OCDN_RECONNECT_MAX_MS: '500' };
      if (name !== 'src') Object.assign(env, { OCDN_FILES_CAPACITY_BYTES: String(CAPACITY), OCDN_VOD_BANDWIDTH_BPS: String(BANDWIDTH) });
      servers[name] = { name, ip, port, dir, id: r.node.id, token: r.token, env, proc: undefined as never };
    }
    for (const [i, n] of small.entries()) {
      writeFileSync(join(servers.src.dir, n), randomBytes(400 * KB + i * 7 * KB));
      sizes.set(n, statSync(join(servers.src.dir, n)).size);
    }
    writeMeta();
    for (const s of Object.values(servers)) startServer(s);
  });

  after(async () => {
    await Promise.all(Object.values(servers).map((s) => s.proc?.stop()));
    await m?.proc.stop();
    await tdb?.cleanup();
    tmp.remove();
  });

  /**
   * Every source file on exactly one VOD server and nothing queued: what each test waits for first, so that none
   * depends on another having run (the loops place the files whatever the tests do).
   */
  const settled = async () => [...sizes.keys()].every((n) => holders(n).length === 1) && (await queued()).length === 0;
  const dump = () => `manager:\n${m.proc.output.slice(-4000)}\nvod1:\n${servers.vod1.proc.output.slice(-2000)}\nvod2:\n${servers.vod2.proc.output.slice(-2000)}`;

  test('files flow to the VOD servers in rank order, each on one server, intact', async () => {
    await waitFor('every ranked file on a VOD server', () => small.every((n) => holders(n).length === 1), { timeoutMs: 60_000, intervalMs: 100 }).catch((err) => {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    });
    for (const n of small) assert.equal(sha(join(servers[holders(n)[0]!].dir, n)), sha(join(servers.src.dir, n)), `${n} is intact`);
    // The worker renames the file into place, then reports done: wait for the reports.
    const tasks = await waitFor('eight tasks reported done', async () => {
      const items = (await m.json('/api/v1/vod/tasks?limit=1000')).items as any[];
      return items.filter((t) => t.status === 'done').length >= small.length && items;
    });
    const order = tasks.filter((t) => t.status === 'done').sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((t) => t.file);
    assert.deepEqual(order, small, 'one source at concurrency 1: tasks were made from rank 1 down');
    assert.ok(new Set(small.map((n) => holders(n)[0])).size === 2, 'both VOD servers got files');
    for (const s of [servers.vod1, servers.vod2]) assert.deepEqual(readdirSync(s.dir).filter((n) => n.startsWith('.')), [], 'no partial file left');

    const catalog = await waitFor('catalog shows locations', async () => {
      const c = await m.json('/api/v1/vod/files');
      return c.items.filter((i: any) => small.includes(i.name)).every((i: any) => i.locations.length === 1) && c;
    });
    assert.deepEqual(catalog.items.slice(0, 8).map((i: any) => [i.name, i.rank]), ranks.slice(0, 8));
    assert.ok(catalog.items.every((i: any) => !small.includes(i.name) || i.sources.includes(servers.src.id)));
    assert.ok(catalog.issues.some((i: any) => i.file === '.grade.info' && /2 tab-separated/.test(i.message)), 'the broken metadata line is reported, not fatal');
  });

  test('a file copied onto both VOD servers is kept only on the one with more free space', async () => {
    await waitFor('placement settled', settled, { timeoutMs: 60_000 });
    const name = small[0]!;
    const [holder] = holders(name);
    const other = holder === 'vod1' ? 'vod2' : 'vod1';
    copyFileSync(join(servers[holder!].dir, name), join(servers[other].dir, name));
    const dfs = { vod1: await agentJson(servers.vod1, '/df'), vod2: await agentJson(servers.vod2, '/df') };
    const keeper = dfs.vod1.free >= dfs.vod2.free ? 'vod1' : 'vod2';
    await waitFor('one copy left', () => holders(name).length === 1, { timeoutMs: 20_000 });
    assert.deepEqual(holders(name), [keeper]);
  });

  test('a download killed with -9 resumes from the bytes it had, and ends with the right checksum', async () => {
    await waitFor('placement settled', settled, { timeoutMs: 60_000 });
    const name = 'resume.mpg';
    addSourceFile(name, 8 * MB, 20);
    const task = await waitFor('a task for resume.mpg', async () => (await queued()).find((t: any) => t.file === name), { timeoutMs: 20_000 });
    const s = task.nodeId === servers.vod1.id ? servers.vod1 : servers.vod2;
    const part = join(s.dir, `.${name}.part`);
    await waitFor('2 MiB downloaded', () => existsSync(part) && statSync(part).size >= 2 * MB, { timeoutMs: 20_000, intervalMs: 20 });
    await s.proc.kill9();
    const had = statSync(part).size;
    assert.ok(had < 8 * MB, 'killed mid-download');
    startServer(s);
    await waitFor('resume.mpg in place', () => existsSync(join(s.dir, name)), { timeoutMs: 30_000 }).catch((err) => {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    });
    assert.equal(sha(join(s.dir, name)), sha(join(servers.src.dir, name)));
    // The source's own count: the first request was for the whole file, the last one for exactly what was missing.
    const served = (await agentJson(servers.src, '/stats')).served[name];
    const [first, last] = [served.recent[0], served.recent.at(-1)];
    assert.deepEqual([first.start, first.end], [0, 8 * MB - 1], JSON.stringify(served));
    assert.deepEqual(last, { start: had, end: 8 * MB - 1, bytes: 8 * MB - had }, `resumed from the ${had} bytes on disk: ${JSON.stringify(served)}`);
    const done = await waitFor('task done', async () => (await m.json('/api/v1/vod/tasks?limit=1000')).items.find((t: any) => t.id === task.id && t.status === 'done'));
    assert.equal(done.bytesDone, 8 * MB);
  });

  test('a task left working by a dead server is taken out of the queue and made again on the other server', async () => {
    await waitFor('placement settled', settled, { timeoutMs: 60_000 });
    const name = 'orphan.mpg';
    addSourceFile(name, 8 * MB, 21);
    const task = await waitFor('a working task for orphan.mpg', async () => (await queued()).find((t: any) => t.file === name && t.status === 'working' && t.bytesDone > 0), { timeoutMs: 20_000 });
    const dead = task.nodeId === servers.vod1.id ? servers.vod1 : servers.vod2;
    const alive = dead === servers.vod1 ? servers.vod2 : servers.vod1;
    await dead.proc.kill9();
    const again = await waitFor('a new task on the other server', async () => {
      const items = (await m.json('/api/v1/vod/tasks?limit=1000')).items as any[];
      const old = items.find((t) => t.id === task.id);
      return old && !old.queued && old.removedReason === 'heartbeat' && items.find((t) => t.file === name && t.queued && t.nodeId === alive.id);
    }, { timeoutMs: 30_000 });
    assert.equal(again.sourceNodeId, servers.src.id);
    await waitFor('orphan.mpg on the live server', () => existsSync(join(alive.dir, name)), { timeoutMs: 30_000 });
    assert.equal(sha(join(alive.dir, name)), sha(join(servers.src.dir, name)));
    startServer(dead);
    await waitFor('the restarted server is heard again', async () => (await m.json(`/api/v1/nodes/${dead.id}`)).connected, { timeoutMs: 20_000 });
  });

  test('a disk past the high mark loses its lowest-ranked files until it is at or below the low mark', async () => {
    // Settled, neither loop has anything to do until the filler arrives. (A server killed in another test may still
    // hold a partial file: it counts as used.)
    await waitFor('placement settled', settled, { timeoutMs: 60_000 });
    const s = servers.vod1;
    const before = visible(s.dir);
    const used = (await agentJson(s, '/df')).used;
    // A popular file (rank 0 would be invalid: rank 1 is taken by f1, so the filler shares the top rank 1) that the
    // source does not have, sized to push vod1 just past the high mark.
    const filler = 'filler.mpg';
    const fillerSize = Math.ceil((HIGH / 100) * CAPACITY - used + 200 * KB);
    ranks.unshift([filler, 1]);
    sizes.set(filler, fillerSize);
    writeMeta();
    // What the rule says: lowest rank (largest number) first, until at or below LOW.
    const rankOf = new Map(ranks.map(([n, r]) => [n, r] as const));
    let projected = used + fillerSize;
    const expected: string[] = [];
    for (const n of [...before].sort((a, b) => (rankOf.get(b) ?? Infinity) - (rankOf.get(a) ?? Infinity) || (a < b ? -1 : 1))) {
      if ((projected / CAPACITY) * 100 <= LOW) break;
      expected.push(n);
      projected -= statSync(join(s.dir, n)).size;
    }
    assert.ok(expected.length > 0 && expected.length < before.length, `the scenario evicts some files, not all (${expected})`);
    writeFileSync(join(s.dir, filler), randomBytes(fillerSize));
    await waitFor('evicted', () => expected.every((n) => !existsSync(join(s.dir, n))), { timeoutMs: 20_000 });
    const left = visible(s.dir);
    for (const n of before) if (!expected.includes(n)) assert.ok(left.includes(n), `${n} (rank ${rankOf.get(n)}) was kept; before ${before}, expected ${expected}, left ${left}\n${dump()}`);
    assert.ok(left.includes(filler), 'the popular filler was kept');
    const df = await agentJson(s, '/df');
    assert.ok(df.usedPercent <= HIGH, `vod1 is back under the high mark (${df.usedPercent.toFixed(1)} %)`);
  });
});
