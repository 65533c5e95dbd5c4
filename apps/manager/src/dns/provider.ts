import type { BuiltinDns } from './builtin.ts';
import type { DnsRecordStore } from './records.ts';

/** Where CDN names are published. OCDN_MODIFI_DNS and OCDN_DEL_DNS go through this. */
export interface DnsProvider {
  readonly name: 'builtin' | 'rfc2136';
  /** Publishes `name A ip`; idempotent. */
  upsert(name: string, ip: string): Promise<void>;
  /** Withdraws `name A ip`; withdrawing a missing record succeeds. */
  remove(name: string, ip: string): Promise<void>;
}

/** The manager answers for the zone itself: records go to the database, and this replica answers them at once. */
export class BuiltinProvider implements DnsProvider {
  readonly name = 'builtin';

  constructor(
    private readonly store: DnsRecordStore,
    private readonly server: BuiltinDns,
    private readonly ttl: number,
  ) {}

  async upsert(name: string, ip: string): Promise<void> {
    const serial = await this.store.upsert(name, ip, this.ttl);
    if (serial !== null) this.server.applyLocal({ op: 'upsert', name, value: ip, ttl: this.ttl }, serial);
  }

  async remove(name: string, ip: string): Promise<void> {
    const serial = await this.store.remove(name, ip);
    if (serial !== null) this.server.applyLocal({ op: 'remove', name, value: ip, ttl: this.ttl }, serial);
  }
}
