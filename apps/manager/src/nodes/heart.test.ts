// nodeEndpoint: what OCDN_TRAFFIC needs to reach a node, read once for the steps that ask at the same moment.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase, testBackends } from '../../../../test/support/db.ts';
import type { CoreContext } from '../context.ts';
import { migrate } from '../db/migrate.ts';
import { nodes } from '../db/schema.ts';
import { nodeEndpoint } from './heart.ts';

for (const backend of testBackends()) {
  describe(`a node's endpoint on ${backend}`, () => {
    it('is one read for the steps asking at once, and a failed read is not kept', async () => {
      const tdb = await createTestDatabase(backend);
      const database = await tdb.open();
      try {
        await migrate(database.db);
        // nodeEndpoint reads only ctx.db.
        const ctx = { db: database.db } as CoreContext;
        await assert.rejects(nodeEndpoint(ctx, 'nod_heart1'), /does not exist/);
        await database.db.insert(nodes).values({ id: 'nod_heart1', name: 'heart-1', ip: '127.0.0.91', roles: ['cdn'], agentPort: 8081, status: 'normal', token: 't', tokenHash: 'h' });
        const seen = await Promise.all(Array.from({ length: 20 }, () => nodeEndpoint(ctx, 'nod_heart1')));
        assert.deepEqual(seen[0], { id: 'nod_heart1', ip: '127.0.0.91', agentPort: 8081, token: 't', tls: false });
        assert.equal(new Set(seen).size, 1, 'every step got the one read');
      } finally {
        await database.close();
        await tdb.cleanup();
      }
    });
  });
}
