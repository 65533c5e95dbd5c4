// The health watch thread's decisions on PostgreSQL: written on a connection of the thread's own, and the runs handed
// to the manager's engine. Loaded by watch-worker.ts only when there is a PostgreSQL to write to (a bundle of its
// own, dist/watch-writer.js): on the embedded database the thread carries no database driver.
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from '../db/schema.ts';
import { reconnectBackoff } from '../db/reconnect.ts';
import type { Db } from '../db/client.ts';
import { enqueueRuns } from '../pipelines/enqueue.ts';
import { NodeRunStarter, type RunStarterContext } from './node-runs.ts';
import type { FromWatch } from './watch-messages.ts';

export interface WatchWriter {
  /** Writes the node `fault` and a FAULT_NODE run (unless the node was decided already), and reports it. */
  decide(node: { id: string; ip: string }, reason: string): void;
  /** Opens the connection before it is needed. */
  warm(): void;
}

export function startWatchWriter(databaseUrl: string, send: (m: FromWatch) => void, log: RunStarterContext['log'], leading: () => boolean): WatchWriter {
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {}, max_lifetime: null, backoff: reconnectBackoff, connection: { application_name: 'ocdn-health-watch' } });
  /** Why each node was decided, until its run is reported. */
  const reasons = new Map<string, string>();
  /** The node of each run written, until it is reported (after the commit). */
  const subjects = new Map<string, string>();
  const runs = new NodeRunStarter(
    {
      database: { urgent: drizzle(client, { schema }) as unknown as Db },
      engine: {
        async enqueueMany(tx, specs) {
          const ids = await enqueueRuns(tx, specs);
          ids.forEach((id, i) => subjects.set(id, specs[i]!.subject));
          return ids;
        },
        // After the commit: the manager's engine executes it.
        async dispatch(id, spec) {
          const nodeId = subjects.get(id);
          subjects.delete(id);
          if (nodeId === undefined) return;
          send({ op: 'decided', nodeId, reason: reasons.get(nodeId) ?? '', run: { id, kind: spec.kind as 'FAULT_NODE' }, raisedFrom: null });
          reasons.delete(nodeId);
        },
      },
      log,
    },
    leading,
    1_000,
    true, // a node whose row is no longer `normal` was decided already (or is leaving): the thread's list was a moment old
  );
  return {
    decide(node, reason) {
      reasons.set(node.id, reason);
      runs.start(node, 'FAULT_NODE');
    },
    warm() {
      void client`select 1`.catch(() => {});
    },
  };
}
