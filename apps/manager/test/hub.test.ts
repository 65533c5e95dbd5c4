import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { CloseCode, PROTOCOL_VERSION } from '@ocdn/protocol';
import { RpcError } from '../src/hub/connection.ts';
import { nodeEndpoint } from '../src/nodes/heart.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { startHarness, type Harness } from './harness.ts';

const hello = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'test', roles: ['cdn'], configs: [], ...overrides });

describe('agent hub', () => {
  let h: Harness;
  let wsUrl: string;
  let nodeId: string;
  let token: string;

  const connect = (auth: string | null = token) =>
    new WebSocket(wsUrl, { headers: auth === null ? {} : { authorization: `Bearer ${auth}` } });
  const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  const refusedStatus = (ws: WebSocket) =>
    new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('connection was accepted')));
      ws.once('error', () => {});
    });
  /**
   * Connects, says hello and waits for the welcome; then heartbeats at the interval the welcome gives, as a real
   * agent does (a test that waits on a loaded machine must not lose its agent to the hub's silence check), unless
   * `silent`.
   */
  const agent = async (helloOverrides: Record<string, unknown> = {}, { silent = false } = {}) => {
    const ws = connect();
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(hello(helloOverrides));
    const welcome = await waitFor('welcome', () => frames.find((f) => f.type === 'welcome'));
    if (!silent) {
      let seq = 0;
      const beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++, uptimeSeconds: 1 })), welcome.heartbeatIntervalMs);
      ws.once('close', () => clearInterval(beat));
    }
    return { ws, frames };
  };

  before(async () => {
    h = await startHarness('pglite', { OCDN_HEARTBEAT_INTERVAL_MS: '200' }, { listen: true });
    wsUrl = `ws://127.0.0.1:${h.manager.port}/api/v1/agent/ws`;
    const r = await h.call('POST', '/api/v1/nodes', { name: 'hub-node', ip: '127.0.0.2', roles: ['cdn', 'vod'], agentPort: 1 });
    nodeId = r.body.node.id;
    token = r.body.token;
  });
  after(async () => {
    await h?.close();
  });

  it('welcomes a valid agent with its node id, roles and heartbeat interval', async () => {
    const { ws, frames } = await agent();
    const welcome = frames.find((f) => f.type === 'welcome');
    assert.equal(welcome.nodeId, nodeId);
    assert.deepEqual(welcome.roles, ['cdn', 'vod']);
    assert.equal(welcome.heartbeatIntervalMs, 200);
    assert.equal(h.manager.ctx.hub.get(nodeId)?.hello.agentVersion, 'test');
    ws.close();
    await waitFor('unregistered', () => !h.manager.ctx.hub.get(nodeId));
  });

  it('refuses a missing, malformed or wrong token before the upgrade (401)', async () => {
    assert.equal(await refusedStatus(connect(null)), 401);
    assert.equal(await refusedStatus(connect('garbage')), 401);
    assert.equal(await refusedStatus(connect(`${nodeId}.${'A'.repeat(43)}`)), 401);
    const otherSecret = token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    assert.equal(await refusedStatus(connect(otherSecret)), 401);
  });

  it('refuses another protocol major version with a clear close reason', async () => {
    const ws = connect();
    await new Promise((r) => ws.once('open', r));
    ws.send(hello({ protocolVersion: '2.0' }));
    const c = await closed(ws);
    assert.equal(c.code, CloseCode.incompatibleProtocol);
    assert.match(c.reason, /protocol major version 2 is not supported/);
    assert.equal(h.manager.ctx.hub.get(nodeId), undefined);
  });

  it('accepts a newer minor version', async () => {
    const ws = connect();
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(hello({ protocolVersion: '1.99' }));
    await waitFor('welcome', () => frames.find((f) => f.type === 'welcome'));
    ws.close();
    await closed(ws);
  });

  it('closes on a malformed hello, naming the problem', async () => {
    for (const [payload, reason] of [
      ['not json', /invalid hello: frame is not valid JSON/],
      [hello({ roles: ['mail'] }), /invalid hello: roles\.0/],
      [JSON.stringify({ type: 'heartbeat', seq: 1, uptimeSeconds: 1 }), /invalid hello/],
    ] as const) {
      const ws = connect();
      await new Promise((r) => ws.once('open', r));
      ws.send(payload);
      const c = await closed(ws);
      assert.equal(c.code, CloseCode.invalidFrame);
      assert.match(c.reason, reason);
    }
  });

  it('closes on a malformed frame after the hello and on an oversized frame (1009)', async () => {
    const a = await agent();
    a.ws.send(JSON.stringify({ type: 'heartbeat', seq: -1 }));
    const c = await closed(a.ws);
    assert.equal(c.code, CloseCode.invalidFrame);
    assert.match(c.reason, /invalid frame: seq/);
    assert.ok(a.frames.some((f) => f.type === 'error' && f.code === 'invalid_frame'));

    const b = await agent();
    b.ws.send(JSON.stringify({ type: 'event', name: 'x', data: 'y'.repeat(5 * 1024 * 1024) }));
    const c2 = await closed(b.ws);
    assert.equal(c2.code, CloseCode.tooBig);
    assert.equal((await fetch(`http://127.0.0.1:${h.manager.port}/healthz`)).status, 200, 'manager still serves');
  });

  it('closes an agent that never says hello', async () => {
    // helloTimeout is 5 s by default; the socket must be closed by the manager, not by us.
    const ws = connect();
    const c = await closed(ws);
    assert.equal(c.code, CloseCode.helloTimeout);
  });

  it('replaces an older connection of the same node with the newer one', async () => {
    const first = await agent();
    const firstClosed = closed(first.ws);
    const second = await agent();
    const c = await firstClosed;
    assert.equal(c.code, CloseCode.replaced);
    assert.equal(h.manager.ctx.hub.size, 1);
    assert.ok(h.manager.ctx.hub.get(nodeId)?.open);
    second.ws.close();
    await closed(second.ws);
  });

  it('carries RPC over the socket with results, errors and timeouts (OCDN_TRAFFIC)', async () => {
    const { ws } = await agent();
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type !== 'request') return;
      if (f.params?.mode === 'silent') return;
      if (f.params?.mode === 'fail') {
        ws.send(JSON.stringify({ type: 'response', id: f.id, ok: false, error: { code: 'command_failed', message: 'boom' } }));
        return;
      }
      ws.send(JSON.stringify({ type: 'response', id: f.id, ok: true, result: { nodeId, agentVersion: 'test', protocolVersion: '1.0', uptimeSeconds: 1, roles: ['cdn'] } }));
    });
    const node = await nodeEndpoint(h.manager.ctx, nodeId);
    const beat = await h.manager.ctx.traffic.call(node, 'node.heartbeat', {});
    assert.equal(beat.nodeId, nodeId);
    const conn = h.manager.ctx.hub.get(nodeId)!;
    await assert.rejects(conn.call('node.heartbeat', { mode: 'fail' }, 1000), (e: RpcError) => e.code === 'command_failed' && e.message === 'boom');
    await assert.rejects(conn.call('node.heartbeat', { mode: 'silent' }, 150), (e: RpcError) => e.code === 'timeout');
    ws.close();
    await closed(ws);
  });

  it('sends requests made together in one batch frame to a 1.1 agent, one frame each to a 1.0 agent', async () => {
    for (const version of [PROTOCOL_VERSION, '1.0']) {
      const { ws, frames } = await agent({ protocolVersion: version });
      const requests: any[] = [];
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        // only this test's requests: the manager's own checks may ask this node too
        const reqs = (f.type === 'batch' ? f.frames : f.type === 'request' ? [f] : []).filter((r: any) => typeof r.params?.n === 'number');
        requests.push(...reqs);
        const answers = reqs.map((r: any) => ({ type: 'response', id: r.id, ok: true, result: { n: r.params.n } }));
        // a 1.1 agent may answer in a batch too; a 1.0 agent answers one frame each
        if (version === '1.0') for (const a of answers) ws.send(JSON.stringify(a));
        else if (answers.length) ws.send(JSON.stringify({ type: 'batch', frames: answers }));
      });
      const conn = h.manager.ctx.hub.get(nodeId)!;
      const results = await Promise.all(Array.from({ length: 5 }, (_, n) => conn.call('node.heartbeat', { n }, 2000)));
      assert.deepEqual(results, [0, 1, 2, 3, 4].map((n) => ({ n })), 'every caller gets its own answer');
      assert.equal(requests.length, 5);
      const ours = (r: any) => typeof r.params?.n === 'number';
      const sent = frames.filter((f) => (f.type === 'batch' && f.frames.some(ours)) || (f.type === 'request' && ours(f)));
      assert.deepEqual(sent.map((f) => f.type), version === '1.0' ? ['request', 'request', 'request', 'request', 'request'] : ['batch']);
      ws.close();
      await closed(ws);
    }
  });

  it('drops an agent that goes silent without closing', async () => {
    const { ws } = await agent({}, { silent: true }); // sends no heartbeats
    const c = await closed(ws);
    assert.equal(c.code, 1006, 'terminated, not closed politely');
    await waitFor('hub to forget the connection', () => h.manager.ctx.hub.get(nodeId) === undefined);
  });
});
