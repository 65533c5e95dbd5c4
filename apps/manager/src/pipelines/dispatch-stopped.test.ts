// A run committed while its replica stops (a health decision at shutdown) is left for the orphan scan of whoever
// runs next: its dispatch does not fail on the stopped queue, and the run stays pending, not lost.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { createTestDatabase, testBackends } from '../../../../test/support/db.ts';
import { migrate } from '../db/migrate.ts';
import { pipelines } from '../db/schema.ts';
import { createLogger } from '../log.ts';
import { createMetrics } from '../metrics.ts';
import { FAULT_NODE } from './definitions.ts';
import { PipelineEngine } from './engine.ts';
import type { StoredStepHandlers } from './types.ts';

for (const backend of testBackends()) {
  describe(`dispatching on a stopped engine on ${backend}`, () => {
    it('resolves, and leaves the committed run pending for the next replica', async () => {
      const tdb = await createTestDatabase(backend);
      const database = await tdb.open();
      try {
        await migrate(database.db);
        const engine = new PipelineEngine({ database, log: createLogger('silent'), metrics: createMetrics(), handlers: {} as StoredStepHandlers });
        await engine.start();
        await engine.stop();
        const id = await engine.enqueue(database.db, FAULT_NODE({ id: 'nod_stopped', ip: '127.0.3.9' }));
        await engine.dispatch(id, { kind: 'FAULT_NODE' });
        const [run] = await database.db.select({ status: pipelines.status }).from(pipelines).where(eq(pipelines.id, id));
        assert.equal(run!.status, 'pending');
      } finally {
        await database.close();
        await tdb.cleanup();
      }
    });
  });
}
