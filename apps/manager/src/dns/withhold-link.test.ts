import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '../../../../test/support/wait.ts';
import type { Withhold } from './messages.ts';
import { listenWithholds, WithholdLinks } from './withhold-link.ts';

describe('withhold links (watch thread to answering processes)', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'ocdn-wl-'));

  it('carries withholds to each process, and again to a process started in its place', async () => {
    const d = dir();
    const paths = [join(d, 'a.sock'), join(d, 'b.sock')];
    const got: [number, string][] = [];
    const conns: net.Socket[] = [];
    const listen = async () => {
      const list = await Promise.all(paths.map((p, i) => listenWithholds(p, (m) => got.push([i, m.ip]))));
      for (const s of list) s.on('connection', (c) => conns.push(c));
      return list;
    };
    let servers = await listen();
    const links = new WithholdLinks(paths, 20);
    try {
      await waitFor('both connected', () => links.connected === 2);
      links.write({ op: 'withhold', ip: '192.0.2.1' });
      await waitFor('both told', () => got.length === 2);
      assert.deepEqual(got.sort(), [[0, '192.0.2.1'], [1, '192.0.2.1']]);
      // The processes ended (their connections with them) and were started again at the same paths.
      for (const s of servers) s.close();
      for (const c of conns.splice(0)) c.destroy();
      await waitFor('both links down', () => links.connected === 0);
      writeFileSync(paths[0]!, ''); // a stale file where the socket was
      got.length = 0;
      servers = await listen();
      await waitFor('both connected again', () => links.connected === 2);
      links.write({ op: 'withhold', ip: '192.0.2.2' });
      await waitFor('both told again', () => got.length === 2);
      assert.deepEqual(got.sort(), [[0, '192.0.2.2'], [1, '192.0.2.2']]);
    } finally {
      links.stop();
      for (const s of servers) s.close();
      for (const c of conns) c.destroy();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('takes well-formed lines only, and drops a connection that never ends its line', async () => {
    const d = dir();
    const path = join(d, 'c.sock');
    const got: Withhold[] = [];
    const server = await listenWithholds(path, (m) => got.push(m));
    try {
      const sock = net.connect(path);
      await new Promise((r) => sock.once('connect', r));
      sock.write('not json\n{"op":"release","ip":"192.0.2.3"}\n{"op":"withhold","ip":5}\n{"op":"withhold","ip":"192.0.2.4","x":1}\n');
      await waitFor('the good line', () => got.length === 1);
      assert.deepEqual(got, [{ op: 'withhold', ip: '192.0.2.4' }]);
      const closed = new Promise((r) => sock.once('close', r));
      sock.on('error', () => {});
      sock.write('x'.repeat(5000));
      await closed;
    } finally {
      server.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
