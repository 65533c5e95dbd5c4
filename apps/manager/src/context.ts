import type { ApiTokens } from './access/tokens.ts';
import type { Sessions } from './access/sessions.ts';
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
/**
 * What the pipeline steps need: built first, in start-manager.ts, from the database, the agent hub and DNS. The
 * step handlers take this, so the engine can be built from them before anything that starts pipelines.
 */
export interface CoreContext {
  env: ManagerEnv;
  log: Logger;
  database: Database;
  db: Db;
  hub: AgentHub;
  traffic: OCDN_TRAFFIC;
  metrics: Metrics;
  dns: { store: DnsRecordStore; provider: DnsProvider; server: BuiltinDns | null };
}

/** Everything a service needs: the core, the pipeline engine, and the signals services send to the loops. */
export interface ManagerContext extends CoreContext {
  engine: PipelineEngine;
  /** API tokens and console sessions. */
  access: { tokens: ApiTokens; sessions: Sessions };
  /** Forwarding resources changed (on this replica): push the new state to the DNS nodes now, not at the next tick. */
  forwardingChanged(): void;
}
