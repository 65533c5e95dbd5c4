import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cdnRole } from './cdn/role.ts';
import { parseAgentEnv } from './env.ts';
import { dnsRole } from './dns/role.ts';
import { createAgentHttp } from './http.ts';
import { createLogger } from './log.ts';
import { RoleGate } from './role.ts';
import { RpcDispatcher } from './rpc.ts';
import { vodRole } from './vod/role.ts';

const TOKEN = `nod_abc123def456.${'s'.repeat(43)}`;
const auth = { authorization: `Bearer ${TOKEN}` };

/** One request over a real socket; the body as text. */
function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe("the agent's HTTP API (node:http, real roles, real sockets)", () => {
  let dir: string;
  let server: Server;
  let port: number;
  const logged: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ocdn-agent-http-'));
    const env = parseAgentEnv({
      OCDN_MANAGER_URL: 'http://127.0.0.1:9',
      OCDN_NODE_TOKEN: TOKEN,
      OCDN_NGINX_CONF_DIR: join(dir, 'conf'),
      OCDN_NGINX_CACHE_DIR: join(dir, 'cache'),
      OCDN_NGINX_TEST_CMD: 'true',
      OCDN_NGINX_RELOAD_CMD: 'true',
      OCDN_FILES_DIR: join(dir, 'files'),
    });
    const log = createLogger('error');
    const origError = log.error.bind(log);
    log.error = (fields, msg) => {
      logged.push(msg);
      origError(fields, msg);
    };
    const gate = new RoleGate();
    gate.welcome(['cdn', 'vod-source']);
    const roles = [cdnRole(env, log, gate), dnsRole(env, log, gate), vodRole(env, log, gate)];
    const rpc = new RpcDispatcher();
    rpc.register('node.heartbeat', async () => ({ nodeId: 'nod_abc123def456', agentVersion: 't', protocolVersion: '1.1', uptimeSeconds: 1, roles: gate.roles }));
    for (const role of roles) role.rpc(rpc);
    const listener = createAgentHttp({ token: TOKEN, rpc, roles, log, heartbeat: () => ({ nodeId: 'nod_abc123def456', agentVersion: 't', protocolVersion: '1.1', uptimeSeconds: 1, roles: gate.roles }) });
    server = createServer(listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every guarded route without the node token, and with a wrong one', async () => {
    for (const [method, path] of [['GET', '/heartbeat'], ['GET', '/heartbeat/watch'], ['POST', '/rpc/cdn.listConf'], ['GET', '/files'], ['GET', '/df'], ['DELETE', '/files/a.mp4'], ['GET', '/nowhere']] as const) {
      const r = await call(port, method, path);
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(JSON.parse(r.text).error.code, 'unauthorized');
      assert.equal((await call(port, method, path, { authorization: `Bearer nod_abc123def456.${'x'.repeat(43)}` })).status, 401);
    }
  });

  it('answers the heartbeat, with JSON, and HEAD without a body', async () => {
    const r = await call(port, 'GET', '/heartbeat', auth);
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/json');
    assert.deepEqual(JSON.parse(r.text).roles, ['cdn', 'vod-source']);
    const head = await call(port, 'HEAD', '/heartbeat', auth);
    assert.deepEqual([head.status, head.text], [200, '']);
  });

  it('streams heartbeats on /heartbeat/watch, one line now and one every everyMs, until the caller goes', async () => {
    const lines: { at: number; beat: { nodeId: string } }[] = [];
    const t0 = Date.now();
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/heartbeat/watch?everyMs=100', headers: auth }, resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    let rest = '';
    await new Promise<void>((resolve) => {
      res.on('data', (chunk: Buffer) => {
        const parts = (rest + chunk.toString()).split('\n');
        rest = parts.pop()!;
        for (const p of parts) lines.push({ at: Date.now() - t0, beat: JSON.parse(p) });
        if (lines.length >= 4) resolve();
      });
    });
    res.destroy();
    assert.ok(lines.every((l) => l.beat.nodeId === 'nod_abc123def456'));
    // the first at once, the fourth three periods later (timers may be late, never early)
    assert.ok(lines[3]!.at - lines[0]!.at >= 290, JSON.stringify(lines.map((l) => l.at)));
    for (const bad of ['99', '60001', '1.5', 'soon']) {
      const r = await call(port, 'GET', `/heartbeat/watch?everyMs=${bad}`, auth);
      assert.equal(r.status, 400, bad);
      assert.equal(JSON.parse(r.text).error.details.field, 'everyMs');
    }
    assert.deepEqual(Object.values(await call(port, 'HEAD', '/heartbeat/watch', auth)).slice(0, 1), [200]);
  });

  it('dispatches POST /rpc/:method to the role and writes what it was asked to', async () => {
    const config = '# ocdn domain=a.example version=3\nserver { }\n';
    const r = await call(port, 'POST', '/rpc/cdn.syncConf', { ...auth, 'content-type': 'application/json' }, JSON.stringify({ domain: 'a.example', version: 3, config }));
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).version, 3);
    assert.ok(readdirSync(join(dir, 'conf')).includes('a.example.conf'));
    const list = await call(port, 'POST', '/rpc/cdn.listConf', auth, '');
    assert.deepEqual(JSON.parse(list.text).items.map((i: { domain: string }) => i.domain), ['a.example']);
  });

  it('maps bad calls to clear 4xx answers with the protocol error code', async () => {
    const cases: [string, string, string | Buffer | undefined, number, string][] = [
      ['POST', '/rpc/no.such', '{}', 404, 'unknown_method'],
      ['POST', '/rpc/cdn.syncConf', '{"domain":"a.example"}', 400, 'invalid_params'],
      ['POST', '/rpc/cdn.syncConf', '{not json', 400, 'bad_request'],
      ['POST', '/rpc/cdn.syncConf', Buffer.alloc(4 * 1024 * 1024 + 1, 32), 413, 'payload_too_large'],
      ['GET', '/rpc/cdn.listConf', undefined, 405, 'method_not_allowed'],
      ['GET', '/heartbeat/', undefined, 404, 'not_found'],
      ['POST', '/rpc/dns.apply', '{"hash":"h","views":[]}', 409, 'role_not_enabled'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(port, method, path, auth, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.equal(JSON.parse(r.text).error.code, code, `${method} ${path}`);
    }
    const missing = await call(port, 'POST', '/rpc/cdn.syncConf', auth, '{"domain":"a.example","config":"c"}');
    assert.equal(JSON.parse(missing.text).error.message, 'invalid params for cdn.syncConf: version: Invalid input: expected number, received undefined', 'the protocol says why in English');
    assert.equal((await call(port, 'GET', '/heartbeat', auth)).status, 200, 'still serving');
  });

  it("serves a role's routes: guarded JSON ones, a 204, and a public one that writes its own response", async () => {
    assert.equal((await call(port, 'GET', '/df', auth)).status, 200); // the file directory is made on first use
    writeFileSync(join(dir, 'files', 'movie.mp4'), 'frames');
    assert.deepEqual(JSON.parse((await call(port, 'GET', '/files', auth)).text).items.map((f: { name: string }) => f.name), ['movie.mp4']);
    const file = await call(port, 'GET', '/files/movie.mp4', auth);
    assert.deepEqual([file.status, file.text], [200, 'frames']);
    assert.equal((await call(port, 'GET', '/files/movie.mp4')).status, 401, 'the public route checks its caller itself');
    assert.equal((await call(port, 'DELETE', '/files/movie.mp4', auth)).status, 204);
    const again = await call(port, 'DELETE', '/files/movie.mp4', auth);
    assert.deepEqual([again.status, JSON.parse(again.text).error.code], [404, 'not_found']);
    assert.equal((await call(port, 'DELETE', '/files/..%2Fsecret', auth)).status, 400, 'a name outside the directory');
    assert.equal((await call(port, 'DELETE', '/files/%ZZ', auth)).status, 404, 'a malformed escape is a name as sent: no such file');
    assert.deepEqual(logged, [], 'no request above was an unexpected error');
  });
});
