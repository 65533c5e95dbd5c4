// bench/lists: GET /api/v1/domains at fleet size. 10,000 domains, each on 3 of 50 nodes, written straight into the
// database; then the whole list is walked page by page (the default page of 100, and pages of 1000), several
// times after one unmeasured walk, in-process (no sockets: the manager's own work). Per-page latency, on PGlite
// and on PostgreSQL.
import { domainNodes, domains, nodes } from '../../apps/manager/src/db/schema.ts';
import { percentile, row, benchManager, onEachDatabase } from '../lib.ts';

const DOMAINS = Number(process.env.BENCH_LISTS_DOMAINS ?? 10_000);
const NODES = 50;
const WALKS = Number(process.env.BENCH_LISTS_WALKS ?? 3);
const ADMIN = 'bench-admin-token-0123456789';

async function measure(backend: 'pglite' | 'postgres'): Promise<void> {
  // The nodes are rows without agents: at the default heartbeat the health monitor took all 50 for faulty a few
  // seconds in, and their FAULT_NODE runs (600 domains each) were what the pages then waited for (PostgreSQL p99
  // 0.7-0.9 s). A fleet at rest has its agents connected; here the monitor looks once an hour.
  const bench = await benchManager(backend, ADMIN, { OCDN_HEARTBEAT_INTERVAL_MS: '3600000' });
  const { m, database } = bench;
  try {
    const db = database.db;
    const nodeRows = Array.from({ length: NODES }, (_, i) => ({ id: `nod_bench${String(i).padStart(11, '0')}`, name: `bench-${i}`, ip: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, roles: ['cdn' as const], status: 'normal' as const, token: `t${i}`, tokenHash: `h${i}`, agentPort: 7000 }));
    await db.insert(nodes).values(nodeRows as never);
    for (let at = 0; at < DOMAINS; at += 1000) {
      const batch = Array.from({ length: Math.min(1000, DOMAINS - at) }, (_, j) => at + j);
      await db.insert(domains).values(batch.map((i) => ({ domain: `site-${String(i).padStart(5, '0')}.example.com`, subDomain: `site-${i}`, origins: ['http://127.0.0.1:9'], status: 'complete' as const, configVersion: 1 })));
      await db.insert(domainNodes).values(batch.flatMap((i) => [0, 1, 2].map((k) => ({ domain: `site-${String(i).padStart(5, '0')}.example.com`, nodeId: nodeRows[(i + k * 17) % NODES]!.id, status: 'complete' as const }))));
    }
    const headers = { authorization: `Bearer ${ADMIN}` };
    // One walk first, not measured: the bulk load's 40,000 change notifications (live events) and the first
    // preparation of each statement on each connection are behind it, not part of a page's cost.
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const res = await m.app.request(`/api/v1/domains?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, { headers });
      cursor = ((await res.json()) as { nextCursor: string | null }).nextCursor;
    }
    for (const limit of [100, 1000]) {
      const times: number[] = [];
      let items = 0;
      for (let w = 0; w < WALKS; w++) {
        let cursor: string | null = null;
        items = 0;
        do {
          const t0 = performance.now();
          const res = await m.app.request(`/api/v1/domains?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { headers });
          const body = (await res.json()) as { items: unknown[]; nextCursor: string | null };
          times.push(performance.now() - t0);
          if (res.status !== 200) throw new Error(`GET /api/v1/domains: ${res.status}`);
          items += body.items.length;
          cursor = body.nextCursor;
        } while (cursor);
      }
      if (items !== DOMAINS) throw new Error(`walked ${items} domains, expected ${DOMAINS}`);
      const p99 = percentile(times, 99);
      console.log(row([backend, limit, times.length, percentile(times, 50).toFixed(1), p99.toFixed(1), Math.max(...times).toFixed(1), limit === 100 ? (p99 <= 50 ? 'met' : 'NOT met') : '—'], 12));
    }
  } finally {
    await bench.stop();
  }
}

console.log(`bench/lists: GET /api/v1/domains over ${DOMAINS} domains (each on 3 of ${NODES} nodes), walked ${WALKS} times`);
console.log(row(['database', 'page size', 'pages', 'p50 ms', 'p99 ms', 'max ms', 'p99 ≤ 50 ms'], 12));
onEachDatabase(measure);
