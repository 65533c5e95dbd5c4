import type { Database, Db } from './db/client.ts';
import type { BuiltinDns } from './dns/builtin.ts';
import type { DnsProvider } from './dns/provider.ts';
import type { DnsRecordStore } from './dns/records.ts';
import type { ManagerEnv } from './env.ts';
import type { AgentHub } from './hub/hub.ts';
import type { OCDN_TRAFFIC } from './hub/traffic.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { PipelineEngine } from './pipelines/engine.ts';
import type { VodPlacement } from './vod/placement.ts';
import type { ForwardSync } from './forwarding/sync.ts';

/** Everything a service needs; built once in app.ts and passed down. */
export interface ManagerContext {
  env: ManagerEnv;
  log: Logger;
  database: Database;
  db: Db;
  hub: AgentHub;
  traffic: OCDN_TRAFFIC;
  engine: PipelineEngine;
  metrics: Metrics;
  dns: { store: DnsRecordStore; provider: DnsProvider; server: BuiltinDns | null };
  /** VOD placement loops (off without OCDN_VOD_META_DIR); set once started. */
  vod?: VodPlacement;
  /** Forward-zone scheduler and push to the DNS nodes; set once started. */
  forwarding?: ForwardSync;
}
