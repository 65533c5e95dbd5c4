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

/** The manager answers for the zone itself: records go to the database and this replica's server reloads them. */
export class BuiltinProvider implements DnsProvider {
  readonly name = 'builtin';

  constructor(
    private readonly store: DnsRecordStore,
    private readonly server: BuiltinDns,
    private readonly ttl: number,
  ) {}

  async upsert(name: string, ip: string): Promise<void> {
    if (await this.store.upsert(name, ip, this.ttl)) await this.server.refresh();
  }

  async remove(name: string, ip: string): Promise<void> {
    if (await this.store.remove(name, ip)) await this.server.refresh();
  }
}
