import { openDatabase } from '../../apps/manager/src/db/client.ts';
import { migrate } from '../../apps/manager/src/db/migrate.ts';
import { writeAuditEntry } from '../../apps/manager/src/audit/log.ts';
import { unitOfWork } from '../../apps/manager/src/db/ambient.ts';
const database = await openDatabase({ url: 'postgres://postgres@127.0.0.1:5432/ocdn_dev1' });
await migrate(database.db);
const entry = { tokenId: 'tok_x', tokenName: 'n', role: 'admin', sourceIp: null, method: 'POST', route: '/api/v1/tokens', resourceType: 'token', resourceId: 'tok_y', status: 201, before: null, after: { id: 'tok_y', name: 'x', role: 'viewer', createdAt: 'x', expiresAt: null, lastUsedAt: null } };
for (const label of ['insert', 'unit+insert', 'unit-empty', 'select1', 'insert', 'unit+insert', 'unit-empty', 'select1']) {
  const t0 = performance.now();
  for (let i = 0; i < 500; i++) {
    if (label === 'insert') await writeAuditEntry(database.db, entry);
    else if (label === 'unit+insert') await unitOfWork(database.db, (tx) => writeAuditEntry(tx, entry));
    else if (label === 'unit-empty') await unitOfWork(database.db, async () => {});
    else await database.db.execute('select 1' as never);
  }
  console.log(label, ((performance.now() - t0) / 500).toFixed(3), 'ms');
}
await database.close();
