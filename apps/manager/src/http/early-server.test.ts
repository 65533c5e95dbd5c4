// The manager's HTTP server listens before the manager has started, holds what comes meanwhile, and serves it in
// order once open (early-server.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listenEarly } from './early-server.ts';
import { waitFor } from '../../../../test/support/wait.ts';

/** A raw WebSocket-style upgrade request; resolves with what the server writes back before it closes. */
function upgrade(port: number): { reply: Promise<string> } {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.write('GET /api/v1/agent/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  let text = '';
  socket.on('data', (d) => (text += d.toString()));
  return { reply: new Promise((resolve) => socket.on('close', () => resolve(text))) };
}

describe('the manager HTTP server before the manager has started', () => {
  it('accepts requests and upgrades at once, and serves them once open, in the order they came', async () => {
    const early = await listenEarly({ host: '127.0.0.1', port: 0 });
    try {
      const arrived: string[] = [];
      early.server.on('request', (req) => arrived.push(req.url!));
      const n = 600; // more than one slice of the release
      const replies = Array.from({ length: n }, (_, i) => fetch(`http://127.0.0.1:${early.port}/r/${i}`).then((r) => r.text()));
      let upgrades = 0;
      early.server.on('upgrade', () => upgrades++);
      const up = upgrade(early.port);
      await waitFor('every request and the upgrade held by the server', () => arrived.length === n && upgrades === 1, { timeoutMs: 10_000 });
      const served: string[] = [];
      const waited = early.open({
        fetch: (request) => {
          served.push(new URL(request.url).pathname);
          return new Response(`served ${new URL(request.url).pathname}`);
        },
        upgrade: (_req, socket) => socket.end('HTTP/1.1 418 Upgraded Later\r\nConnection: close\r\n\r\n'),
      });
      assert.equal(waited, n + 1, 'the requests and the upgrade waited');
      assert.deepEqual(await Promise.all(replies), Array.from({ length: n }, (_, i) => `served /r/${i}`));
      assert.deepEqual(served, arrived, 'served in the order they arrived');
      assert.match(await up.reply, /^HTTP\/1.1 418 Upgraded Later/);
      // Once open, a request goes straight to the handler.
      assert.equal(await (await fetch(`http://127.0.0.1:${early.port}/after`)).text(), 'served /after');
    } finally {
      await early.close();
    }
  });

  it('a start that fails answers what waits with 503, drops held upgrades, and stops listening', async () => {
    const early = await listenEarly({ host: '127.0.0.1', port: 0 });
    let arrived = 0;
    early.server.on('request', () => arrived++);
    let upgrades = 0;
    early.server.on('upgrade', () => upgrades++);
    const held = fetch(`http://127.0.0.1:${early.port}/x`).then(
      (r) => r.status,
      () => 'connection closed',
    );
    const up = upgrade(early.port);
    await waitFor('the request and the upgrade held', () => arrived === 1 && upgrades === 1, { timeoutMs: 10_000 });
    await early.close();
    await early.close(); // twice is harmless
    assert.ok([503, 'connection closed'].includes(await held), 'no handler ran');
    assert.equal(await up.reply, '', 'the upgrade was dropped without an answer');
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: early.port });
      s.on('connect', () => (s.destroy(), resolve('connected')));
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
  });

  it('a held upgrade whose client reset its connection is not handed over, and the reset throws nothing', async () => {
    const early = await listenEarly({ host: '127.0.0.1', port: 0 });
    try {
      let serverSide: import('node:stream').Duplex | null = null;
      early.server.on('upgrade', (_req, s) => (serverSide = s));
      const socket = net.connect({ host: '127.0.0.1', port: early.port });
      socket.write('GET /api/v1/agent/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      await waitFor('the upgrade held', () => serverSide !== null, { timeoutMs: 10_000 });
      socket.resetAndDestroy();
      await waitFor('the server side of the socket gone', () => serverSide!.destroyed, { timeoutMs: 10_000 });
      let handed = 0;
      early.open({ fetch: () => new Response(''), upgrade: () => handed++ });
      await new Promise((r) => setImmediate(r));
      assert.equal(handed, 0);
    } finally {
      await early.close();
    }
  });
});
