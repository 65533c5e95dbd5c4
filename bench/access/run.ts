// bench/access: what authentication, authorisation and the audit write add to a request. The same routes are served
// twice from one manager, side by side in one run: by the manager's own app (token lookup, role check, and for a
// write, the unit of work with its audit entry) and by the same app built without them (createHttpApp's
// `accessControl: false`: same routes, same other middleware). Requests alternate between the two, in-process (no
// sockets: what is measured is the manager's own work).
import { createHttpApp } from '../../apps/manager/src/http/http-app.ts';
import { percentile, row, benchManager, onEachDatabase } from '../lib.ts';

const N = Number(process.env.BENCH_ACCESS_REQUESTS ?? 2000);
const ADMIN = 'bench-admin-token-0123456789';

async function measure(backend: 'pglite' | 'postgres'): Promise<void> {
  const bench = await benchManager(backend, ADMIN);
  const { m } = bench;
  try {
    const token = (await (await m.app.request('/api/v1/tokens', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench admin', role: 'admin' }) })).json()) as { secret: string };
    const bare = createHttpApp(m.ctx, { accessControl: false });
    const apps = { with: m.app, without: bare };
    const headers = { authorization: `Bearer ${token.secret}`, 'content-type': 'application/json' };
    const seed = (await (await m.app.request('/api/v1/forwarder-groups', { method: 'POST', headers, body: JSON.stringify({ name: 'seed', addresses: ['127.0.0.1'] }) })).json()) as { id: string };
    const times: Record<string, Record<'with' | 'without', number[]>> = { GET: { with: [], without: [] }, POST: { with: [], without: [] } };
    let n = 0;
    const once = async (method: 'GET' | 'POST', which: 'with' | 'without', keep: boolean) => {
      // A write that starts no background work (a forwarding change would start a sync of the DNS nodes).
      // With the Content-Length an HTTP client sends (the node server passes it on; hono's body limit reads it
      // instead of copying the request).
      const body = JSON.stringify({ name: `t${n++}`, role: 'viewer' });
      const init = method === 'GET' ? { headers } : { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, body };
      const t0 = performance.now();
      const res = await apps[which].request(method === 'GET' ? `/api/v1/forwarder-groups/${seed.id}` : '/api/v1/tokens', init);
      await res.arrayBuffer();
      const ms = performance.now() - t0;
      if (res.status >= 300) throw new Error(`${method} ${which}: ${res.status}`);
      if (keep) times[method]![which].push(ms);
    };
    for (const method of ['GET', 'POST'] as const) {
      for (let i = 0; i < N + 200; i++) {
        const order: ('with' | 'without')[] = i % 2 ? ['with', 'without'] : ['without', 'with'];
        for (const which of order) await once(method, which, i >= 200); // warm-up first
      }
    }
    for (const method of ['GET', 'POST'] as const) {
      const w = times[method]!.with;
      const wo = times[method]!.without;
      const p = (xs: number[], q: number) => percentile(xs, q);
      const added = p(w, 99) - p(wo, 99);
      console.log(row([`${backend} ${method === 'GET' ? 'GET a forwarder group' : 'POST a token'}`, p(w, 50).toFixed(3), p(wo, 50).toFixed(3), p(w, 99).toFixed(3), p(wo, 99).toFixed(3), added.toFixed(3), added <= 1 ? 'met' : 'NOT met'], 24));
    }
    const entries = (await (await m.app.request('/api/v1/audit?limit=1', { headers })).json()) as { items: unknown[] };
    if (entries.items.length !== 1) throw new Error('no audit entries were written');
  } finally {
    await bench.stop();
  }
}

console.log(`bench/access: ${N} requests of each kind per app, alternating with and without access control and audit`);
console.log(row(['request', 'p50 with (ms)', 'p50 without', 'p99 with', 'p99 without', 'p99 added', 'floor ≤ 1 ms'], 24));
onEachDatabase(measure);
