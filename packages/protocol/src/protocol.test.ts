import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AgentFrame,
  AgentHelloFrame,
  ManagerFrame,
  PROTOCOL_VERSION,
  MAX_BATCH_FRAMES,
  MAX_FRAME_BYTES,
  RpcResponseFrame,
  checkProtocolCompatibility,
  sendBatched,
  splitNodeToken,
  supportsBatches,
} from './index.ts';

describe('protocol version negotiation', () => {
  it('accepts the same version and a newer or older minor of the same major', () => {
    assert.deepEqual(checkProtocolCompatibility(PROTOCOL_VERSION), { ok: true });
    assert.deepEqual(checkProtocolCompatibility('1.7', '1.0'), { ok: true });
    assert.deepEqual(checkProtocolCompatibility('1.0', '1.3'), { ok: true });
  });
  it('refuses another major with a reason that names both', () => {
    const r = checkProtocolCompatibility('2.0', '1.0');
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /major version 2 .* speaks 1\.x/);
  });
  it('refuses malformed versions', () => {
    for (const v of ['1', 'x.y', '1.0.0', '', ' 1.0']) assert.equal(checkProtocolCompatibility(v).ok, false, v);
  });
});

describe('batch frames (protocol 1.1)', () => {
  it('are spoken from 1.1 on, so a 1.0 peer is sent one frame per request', () => {
    assert.equal(supportsBatches(PROTOCOL_VERSION), true);
    assert.equal(supportsBatches('1.0'), false);
    assert.equal(supportsBatches('1.1'), true);
    assert.equal(supportsBatches('1.12'), true);
    assert.equal(supportsBatches('junk'), false);
  });
  it('carry requests to the agent and responses back, each frame checked as if it came alone', () => {
    const req = { type: 'request', id: 'r1', method: 'cdn.verConf', params: { domain: 'a.example' } };
    assert.equal(ManagerFrame.parse({ type: 'batch', frames: [req, { ...req, id: 'r2' }] }).type, 'batch');
    assert.equal(ManagerFrame.safeParse({ type: 'batch', frames: [] }).success, false, 'an empty batch');
    assert.equal(ManagerFrame.safeParse({ type: 'batch', frames: [{ ...req, id: '' }] }).success, false, 'a bad request inside');
    const many = Array.from({ length: MAX_BATCH_FRAMES + 1 }, (_, i) => ({ ...req, id: `r${i}` }));
    assert.equal(ManagerFrame.safeParse({ type: 'batch', frames: many }).success, false, 'more than MAX_BATCH_FRAMES');
    const res = { type: 'response', id: 'r1', ok: true, result: { domain: 'a.example', version: 1, hash: 'x' } };
    assert.equal(AgentFrame.parse({ type: 'batch', frames: [res, { type: 'response', id: 'r2', ok: false, error: { code: 'x', message: 'y' } }] }).type, 'batch');
    assert.equal(AgentFrame.safeParse({ type: 'batch', frames: [req] }).success, false, 'a request is no response');
  });
  it('are packed by sendBatched: a frame alone as itself, many as few batches within the limits', () => {
    const frame = (i: number, pad = 0) => JSON.stringify({ type: 'response', id: `r${i}`, ok: true, result: 'x'.repeat(pad) });
    const sent: string[] = [];
    sendBatched([frame(1)], (t) => sent.push(t));
    assert.deepEqual(sent, [frame(1)]);
    sent.length = 0;
    const many = Array.from({ length: MAX_BATCH_FRAMES + 10 }, (_, i) => frame(i));
    sendBatched(many, (t) => sent.push(t));
    assert.equal(sent.length, 2);
    const parsed = sent.map((t) => AgentFrame.parse(JSON.parse(t)) as { type: 'batch'; frames: { id: string }[] });
    assert.deepEqual(parsed.flatMap((b) => b.frames.map((f) => f.id)), many.map((_, i) => `r${i}`), 'every frame, in order');
    sent.length = 0;
    const big = Array.from({ length: 5 }, (_, i) => frame(i, 400_000)); // 2 MB together
    sendBatched(big, (t) => sent.push(t));
    assert.ok(sent.length >= 2 && sent.every((t) => t.length < MAX_FRAME_BYTES), 'no frame beyond MAX_FRAME_BYTES');
  });
});

describe('frames', () => {
  const hello = { type: 'hello', protocolVersion: '1.0', agentVersion: '0.1.0', roles: ['cdn'], configs: [] };
  it('parses a valid hello', () => {
    assert.deepEqual(AgentHelloFrame.parse(hello), hello);
  });
  it('refuses a hello with unknown fields, unknown roles or missing versions', () => {
    assert.equal(AgentHelloFrame.safeParse({ ...hello, extra: 1 }).success, false);
    assert.equal(AgentHelloFrame.safeParse({ ...hello, roles: ['mail'] }).success, false);
    const { protocolVersion: _, ...noVersion } = hello;
    assert.equal(AgentHelloFrame.safeParse(noVersion).success, false);
  });
  it('tells heartbeats, responses and events apart', () => {
    assert.equal(AgentFrame.parse({ type: 'heartbeat', seq: 1, uptimeSeconds: 2 }).type, 'heartbeat');
    const ok = RpcResponseFrame.parse({ type: 'response', id: 'a', ok: true, result: { x: 1 } });
    assert.equal(ok.ok, true);
    const err = AgentFrame.parse({ type: 'response', id: 'a', ok: false, error: { code: 'timeout', message: 'slow' } });
    assert.equal(err.type === 'response' && !err.ok && err.error.code, 'timeout');
    assert.equal(AgentFrame.safeParse({ type: 'response', id: 'a', ok: false, result: 1 }).success, false);
    assert.equal(AgentFrame.safeParse({ type: 'nonsense' }).success, false);
  });
  it('parses manager frames', () => {
    const w = ManagerFrame.parse({ type: 'welcome', nodeId: 'nod_x', protocolVersion: '1.0', managerVersion: '0.1.0', roles: [], heartbeatIntervalMs: 1000 });
    assert.equal(w.type, 'welcome');
    assert.equal(ManagerFrame.safeParse({ type: 'welcome', nodeId: 'n', protocolVersion: '1.0', managerVersion: 'x', roles: [], heartbeatIntervalMs: 0 }).success, false);
  });
});

describe('node tokens', () => {
  it('split into node id and secret', () => {
    const secret = 'A'.repeat(43);
    assert.deepEqual(splitNodeToken(`nod_abc123def456.${secret}`), { nodeId: 'nod_abc123def456', secret });
  });
  it('refuse anything else', () => {
    for (const t of ['', 'nod_abc.short', 'xyz_abc123def456.' + 'A'.repeat(43), 'nod_abc123def456' + 'A'.repeat(43), `nod_abc123def456.${'A'.repeat(43)} `]) {
      assert.equal(splitNodeToken(t), null, t);
    }
  });
});

import { DomainName } from './index.ts';

describe('domain names', () => {
  it('accepts ordinary names and lower-cases them', () => {
    assert.equal(DomainName.parse('Example.COM'), 'example.com');
    for (const d of ['a.b', 'cdn-1.example.co.uk', 'xn--bcher-kva.example', '1.2.3.example']) assert.equal(DomainName.safeParse(d).success, true, d);
  });
  it('refuses what is not a name, and anything that could escape a directory', () => {
    for (const d of ['localhost', 'example.com.', '*.example.com', '-a.example', 'a-.example', 'a..b', '../etc/passwd', 'a/b.com', 'a b.com', 'a\u0000.com', `${'a'.repeat(64)}.com`, '', '.']) {
      assert.equal(DomainName.safeParse(d).success, false, JSON.stringify(d));
    }
  });
});
