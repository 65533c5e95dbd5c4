import { asc, and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { dnsRecords, settings } from '../db/schema.ts';

export interface DnsRecord {
  name: string;
  type: 'A';
  value: string;
  ttl: number;
}

const SERIAL_KEY = 'dns_serial';

/**
 * The published records, in the database (the source of truth for every replica's built-in DNS). Every change
 * bumps a serial in the same transaction; servers reload when it moves, and it is the zone's SOA serial.
 */
export class DnsRecordStore {
  constructor(private readonly db: Db) {}

  /** Publishes `name A ip`; publishing it again changes nothing. Returns whether it was new. */
  async upsert(name: string, ip: string, ttl: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const added = await tx.insert(dnsRecords).values({ name, type: 'A', value: ip, ttl }).onConflictDoNothing().returning({ name: dnsRecords.name });
      if (added.length > 0) await bumpSerial(tx);
      return added.length > 0;
    });
  }

  /** Withdraws `name A ip`; withdrawing a missing record succeeds. Returns whether it existed. */
  async remove(name: string, ip: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const gone = await tx
        .delete(dnsRecords)
        .where(and(eq(dnsRecords.name, name), eq(dnsRecords.type, 'A'), eq(dnsRecords.value, ip)))
        .returning({ name: dnsRecords.name });
      if (gone.length > 0) await bumpSerial(tx);
      return gone.length > 0;
    });
  }

  async list(): Promise<DnsRecord[]> {
    const rows = await this.db.select().from(dnsRecords).orderBy(asc(dnsRecords.name), asc(dnsRecords.value));
    return rows.map((r) => ({ name: r.name, type: 'A', value: r.value, ttl: r.ttl }));
  }

  /** The addresses published for one name. */
  async addressesOf(name: string): Promise<string[]> {
    const rows = await this.db.select({ value: dnsRecords.value }).from(dnsRecords).where(and(eq(dnsRecords.name, name), eq(dnsRecords.type, 'A')));
    return rows.map((r) => r.value).sort();
  }

  async serial(): Promise<number> {
    const [row] = await this.db.select({ value: settings.value }).from(settings).where(eq(settings.key, SERIAL_KEY));
    return row ? Number(row.value) : 1;
  }
}

async function bumpSerial(tx: Pick<Db, 'execute'>): Promise<void> {
  await tx.execute(sql`
    insert into settings (key, value) values (${SERIAL_KEY}, '2')
    on conflict (key) do update set value = (settings.value::bigint + 1)::text, updated_at = now()`);
}
