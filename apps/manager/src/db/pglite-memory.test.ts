import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { openDatabase } from './client.ts';
import { rowsOf } from './migrate.ts';

const sharedBuffers = async (size?: string) => {
  const database = await openDatabase({ memory: true, sharedBuffers: size });
  try {
    return rowsOf<{ shared_buffers: string }>(await database.db.execute(sql`show shared_buffers`))[0]!.shared_buffers;
  } finally {
    await database.close();
  }
};

describe('the embedded database (PGlite) memory', () => {
  it('starts with shared_buffers of 16MB unless told otherwise, PGlite\'s 128MB only when asked', async () => {
    assert.equal(await sharedBuffers(), '16MB');
    assert.equal(await sharedBuffers('32MB'), '32MB');
    assert.equal(await sharedBuffers('128MB'), '128MB');
  });
  it('refuses a size that is not one', async () => {
    await assert.rejects(() => openDatabase({ memory: true, sharedBuffers: '1GBB' }), /not a size/);
    await assert.rejects(() => openDatabase({ memory: true, sharedBuffers: '123456MB' }), /not a size/);
  });
});
