import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from '@hono/zod-openapi';
import * as zm from 'zod/mini';
import * as P from '@ocdn/protocol';
import { classic } from './protocol-schemas.ts';

const schemas = Object.entries(P as Record<string, unknown>).filter((e): e is [string, zm.ZodMiniType] => typeof e[1] === 'object' && e[1] !== null && '_zod' in e[1]);
const methods = Object.entries(P.RpcMethods).flatMap(([m, s]) => [[`${m} params`, s.params], [`${m} result`, s.result]] as [string, zm.ZodMiniType][]);

/** Values of every shape the schemas meet: valid ones, values at and past each bound, and wrong types. */
const samples: unknown[] = [
  undefined, null, true, 0, -1, 1, 1.5, 100, 101, 65535, 65536, 2 ** 60, Number.NaN, '', 'a', 'A.Example.COM', 'example.com',
  'bad_name', 'x'.repeat(64), 'x'.repeat(254), '.hidden', 'a/b', 'movie.mp4', 'ready', 'working', 'cdn', 'viewer', 'first',
  [], ['cdn'], ['cdn', 'bogus'], {},
  { domain: 'A.example.com' }, { domain: 'a.example', version: 3, config: '# ocdn domain=a.example version=3\n' },
  { domain: 'a.example', version: -1, config: '' }, { domain: 'a.example', extra: 1 }, { name: 'movie.mp4' }, { name: '../x' },
  { hash: 'h', views: [{ name: 'default', matchClients: ['any'], zones: [{ name: '.', style: 'first', forwarders: [{ ip: '10.0.0.1', port: 53 }] }] }] },
  { hash: 'h', views: [{ name: 'default', matchClients: [], zones: [{ name: '.', style: 'first', forwarders: [] }] }] },
  { type: 'hello', protocolVersion: '1.1', agentVersion: '0.1.0', roles: ['cdn'], configs: [{ kind: 'nginx', name: 'a.example', version: 1, hash: 'h' }] },
  { type: 'response', id: '1', ok: true, result: 1 }, { type: 'response', id: '1', ok: false, error: { code: 'x', message: 'y' } },
  { type: 'response', id: '', ok: true, result: 1 }, { type: 'request', id: '1', method: 'm', params: {}, timeoutMs: 0 },
  { type: 'batch', frames: [] }, { type: 'heartbeat', seq: 1, uptimeSeconds: 2 }, { status: 'done', bytesDone: 10 },
  { status: 'failed', error: 'a\u0000b' }, { status: 'ready' },
  { id: 't', file: 'movie.mp4', size: 1, nodeId: 'n', sourceNodeId: 's', status: 'ready', bytesDone: 0, error: null, createdAt: 'c', updatedAt: 'u', sourceUrl: 'http://x' },
  { nodeId: 'n', agentVersion: 'v', protocolVersion: '1.1', uptimeSeconds: 1, roles: ['dns'] }, { reloaded: true, coalesced: 0, ms: 1 },
  { path: '/x', total: 1, free: 1, used: 0, usedPercent: 101 }, { items: [{ domain: 'a.example', version: null, hash: null }] },
];

const outcome = (r: { success: boolean; data?: unknown; error?: { issues: { path: PropertyKey[]; message: string; code: string }[] } }) =>
  r.success ? { ok: true, data: r.data } : { ok: false, issues: r.error!.issues.map((i) => ({ path: i.path, message: i.message, code: i.code })) };

describe('classic copies of the protocol schemas (for the OpenAPI document)', () => {
  it('cover every schema the protocol exports', () => {
    assert.ok(schemas.length >= 40, `only ${schemas.length} schemas found`);
    for (const [name, s] of [...schemas, ...methods]) assert.ok(classic(s) instanceof z.ZodType, name);
  });

  it('accept, refuse and transform exactly as the originals, with the same messages', () => {
    let accepted = 0;
    for (const [name, s] of [...schemas, ...methods]) {
      const copy = classic(s);
      for (const v of samples) {
        const want = outcome(zm.safeParse(s, v));
        assert.deepEqual(outcome(copy.safeParse(v)), want, `${name} on ${JSON.stringify(v)}`);
        if (want.ok) accepted++;
      }
    }
    assert.ok(accepted > 60, `the samples exercise the accepting side too (${accepted})`);
  });

  it('describe the same JSON schema', () => {
    for (const [name, s] of [...schemas, ...methods]) {
      const opts = { io: 'input', unrepresentable: 'any' } as const;
      assert.deepEqual(z.toJSONSchema(classic(s), opts), zm.toJSONSchema(s, opts), name);
    }
  });

  it('messages are English where the protocol runs without classic zod (the agent)', () => {
    const r = zm.safeParse(P.CdnSyncConfRequest, { domain: 'a.example', version: 'x', config: 'c' });
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0]!.message, /expected number, received string/);
  });
});
