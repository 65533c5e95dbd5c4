import { asc, eq, sql } from 'drizzle-orm';
import { GroupCommit } from '../db/group-commit.ts';
import type { Db } from '../db/client.ts';
import { rawRows } from '../db/raw.ts';
import { after, decodeCursor, pageOfRows, PAGE_MAX, type Page, type PageRequest } from '../http/pages.ts';
import { rowsOf } from '../db/migrate.ts';
import { dnsRecords, settings } from '../db/schema.ts';

export interface DnsRecord {
  name: string;
  type: 'A';
  value: string;
  ttl: number;
}

const SERIAL_KEY = 'dns_serial';

/** A change to one published record. */
export interface RecordChange {
  op: 'upsert' | 'remove';
  name: string;
  value: string;
  ttl: number;
}

/**
 * The published records, in the database (the source of truth for every replica's built-in DNS). Every change
 * bumps a serial in the same transaction; servers reload when it moves, and it is the zone's SOA serial.
 *
 * Changes are group-committed: a rollout publishes thousands of addresses within seconds, and the serial's row
 * lock would otherwise line them up one transaction each. A batch is one insert, one delete and one bump.
 */
export class DnsRecordStore {
  private readonly changes: GroupCommit<RecordChange, number | null>;

  constructor(private readonly db: Db) {
    this.changes = new GroupCommit((batch) => this.commit(batch), (c) => `${c.name} ${c.value}`);
  }

  /** Whether changes are waiting or being committed (their serials may be in the database before they are reported). */
  get writing(): boolean {
    return !this.changes.idle;
  }

  /** Commits reported to their writers so far (one at a time, in order). */
  get commits(): number {
    return this.changes.reported;
  }

  /** Publishes `name A ip`; publishing it again changes nothing. Returns the serial of the change, null if none. */
  upsert(name: string, ip: string, ttl: number): Promise<number | null> {
    return this.changes.write({ op: 'upsert', name, value: ip, ttl });
  }

  /** Withdraws `name A ip`; withdrawing a missing record succeeds. Returns the serial of the change, null if none. */
  remove(name: string, ip: string): Promise<number | null> {
    return this.changes.write({ op: 'remove', name, value: ip, ttl: 0 });
  }

  private commit(batch: RecordChange[]): Promise<(number | null)[]> {
    return this.db.transaction(async (tx) => {
      const changed = new Set<string>();
      const ups = batch.filter((c) => c.op === 'upsert');
      const rms = batch.filter((c) => c.op === 'remove');
      // Each list as one JSON parameter: a thousand rows through the query builder cost more than the statement.
      if (ups.length > 0) {
        const added = await tx.execute(sql`
          insert into dns_records (name, type, value, ttl)
          select x.name, 'A', x.value, x.ttl from jsonb_to_recordset(${JSON.stringify(ups.map(({ name, value, ttl }) => ({ name, value, ttl })))}::jsonb)
            as x(name text, value text, ttl int)
          on conflict do nothing
          returning name, value`);
        for (const r of rowsOf<{ name: string; value: string }>(added)) changed.add(`${r.name} ${r.value}`);
      }
      if (rms.length > 0) {
        const gone = await tx.execute(sql`
          delete from dns_records d
          using jsonb_to_recordset(${JSON.stringify(rms.map(({ name, value }) => ({ name, value })))}::jsonb) as x(name text, value text)
          where d.type = 'A' and d.name = x.name and d.value = x.value
          returning d.name, d.value`);
        for (const r of rowsOf<{ name: string; value: string }>(gone)) changed.add(`${r.name} ${r.value}`);
      }
      const serial = changed.size > 0 ? await bumpSerial(tx) : null;
      return batch.map((c) => (changed.has(`${c.name} ${c.value}`) ? serial : null));
    });
  }

  /** The serial and every record, read in one snapshot. */
  async snapshot(): Promise<{ serial: number; records: DnsRecord[] }> {
    return this.db.transaction(
      async (tx) => {
        const [row] = await tx.select({ value: settings.value }).from(settings).where(eq(settings.key, SERIAL_KEY));
        const rows = await tx.select().from(dnsRecords).orderBy(asc(dnsRecords.name), asc(dnsRecords.value));
        return { serial: row ? Number(row.value) : 1, records: rows.map((r) => ({ name: r.name, type: 'A' as const, value: r.value, ttl: r.ttl })) };
      },
      { isolationLevel: 'repeatable read', accessMode: 'read only' },
    );
  }

  /** A page of the published records, by name and address. */
  async list(q: PageRequest = { limit: PAGE_MAX }): Promise<Page<DnsRecord>> {
    const rows = await this.db
      .select()
      .from(dnsRecords)
      .where(q.cursor ? after([dnsRecords.name, dnsRecords.value], decodeCursor(q.cursor, 2)) : undefined)
      .orderBy(asc(dnsRecords.name), asc(dnsRecords.value))
      .limit(q.limit + 1);
    const page = pageOfRows(rows, q.limit, (r) => [r.name, r.value]);
    return { items: page.rows.map((r) => ({ name: r.name, type: 'A', value: r.value, ttl: r.ttl })), nextCursor: page.nextCursor };
  }

  /** The addresses published for one name. */
  async addressesOf(name: string): Promise<string[]> {
    // Asked with every domain a POST answers: written out (db/raw.ts).
    const rows = await rawRows<{ value: string }>(this.db, "select value from dns_records where name = $1 and type = 'A'", [name]);
    return rows.map((r) => r.value).sort();
  }

  async serial(): Promise<number> {
    const [row] = await this.db.select({ value: settings.value }).from(settings).where(eq(settings.key, SERIAL_KEY));
    return row ? Number(row.value) : 1;
  }
}

/** Moves the serial by one in the caller's transaction (the row lock orders concurrent changes); returns it. */
async function bumpSerial(tx: Pick<Db, 'execute'>): Promise<number> {
  const result = await tx.execute(sql`
    insert into settings (key, value) values (${SERIAL_KEY}, '2')
    on conflict (key) do update set value = (settings.value::bigint + 1)::text, updated_at = now()
    returning value`);
  return Number(rowsOf<{ value: string }>(result)[0]!.value);
}
