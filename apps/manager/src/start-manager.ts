import { readFileSync } from 'node:fs';
import { ApiTokens } from './access/tokens.ts';
import { Sessions } from './access/sessions.ts';
import { AuditPruner } from './audit/log.ts';
import type { CoreContext, ManagerContext } from './context.ts';
import { openDatabase, type Database } from './db/client.ts';
import { afterCommit } from './db/ambient.ts';
import { migrate } from './db/migrate.ts';
import { parseNameServers, type ManagerEnv } from './env.ts';
import { BuiltinDns, defaultNameServers } from './dns/builtin.ts';
import { NodeStatusWithholds } from './dns/status-withholds.ts';
import { BuiltinProvider } from './dns/provider.ts';
import { DnsRecordStore } from './dns/records.ts';
import { Rfc2136Provider, parseServer } from './dns/rfc2136.ts';
import { AgentHub } from './hub/hub.ts';
import { OCDN_TRAFFIC } from './hub/traffic.ts';
import { createHttpApp, MANAGER_VERSION } from './http/http-app.ts';
import { listenEarly, type EarlyServer } from './http/early-server.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { NodeTokenLookup, NodeTokenWatch } from './nodes/agent-auth.ts';
import { HealthMonitor } from './nodes/health.ts';
import { HeartbeatFlusher } from './nodes/heartbeat-flusher.ts';
import { countNodesByStatus } from './nodes/service.ts';
import { FleetSizeWatch, embeddedDatabaseLimit, openFilesLimit } from './nodes/fleet-size.ts';
import { countDomainsByStatus } from './domains/service.ts';
import { nodeStepHandlers } from './nodes/steps.ts';
import { domainStepHandlers, handOver } from './domains/steps.ts';
import { DriftRepair } from './domains/drift.ts';
import { PipelineEngine } from './pipelines/engine.ts';
import { parsingParams } from './pipelines/types.ts';
import { VodPlacement } from './vod/placement.ts';
import { ForwardSync } from './forwarding/sync.ts';
import { LiveEvents } from './events/live.ts';
import { jemallocLoaded, mallocHint, youngGenerationHint } from './malloc-hint.ts';

export interface RunningManager {
  ctx: ManagerContext;
  /** The HTTP port actually bound (useful with OCDN_HTTP_PORT=0). */
  port: number;
  url: string;
  /** The admin token, when this start generated it (first start without OCDN_ADMIN_TOKEN). */
  generatedAdminToken: string | null;
  app: ReturnType<typeof createHttpApp>;
  /** Live events (GET /api/v1/events) of this replica. */
  live: LiveEvents;
  /** The periodic loops of this replica (tests drive them directly). */
  loops: { forwarding: ForwardSync; vod: VodPlacement; health: HealthMonitor; drift: DriftRepair };
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Use this database instead of opening one from the environment (tests). */
  database?: Database;
  /** Serve HTTP (default true); tests of the API alone call app.request instead. */
  listen?: boolean;
}

/** Builds and starts every part of the manager; stop() takes them down in reverse order. */
export async function startManager(env: ManagerEnv, opts: StartOptions = {}): Promise<RunningManager> {
  const log = opts.log ?? createLogger(env.OCDN_LOG_LEVEL);
  // Listening before anything else: a connection made while the manager starts waits to be served rather than being
  // refused (http/early-server.ts).
  const tls = env.OCDN_HTTP_TLS_CERT && env.OCDN_HTTP_TLS_KEY ? { certFile: env.OCDN_HTTP_TLS_CERT, keyFile: env.OCDN_HTTP_TLS_KEY } : undefined;
  const early: EarlyServer | null = opts.listen === false ? null : await listenEarly({ host: env.OCDN_HTTP_HOST, port: env.OCDN_HTTP_PORT, tls });
  let database: Database;
  try {
    database =
      opts.database ?? (await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : { dataDir: env.OCDN_DATA_DIR, sharedBuffers: env.OCDN_PGLITE_SHARED_BUFFERS }));
  } catch (err) {
    await early?.close();
    throw err;
  }
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err: unknown) => log.error({ err }, 'error while stopping'));
    stops.length = 0;
  };
  if (!opts.database) stops.push(() => database.close());
  try {
    const applied = await migrate(database.db);
    if (applied.length) log.info({ applied, database: database.kind }, 'migrations applied');
    const tokens = await ApiTokens.open(database.db, log.child({ component: 'access' }), database.kind === 'pglite');
    const bootstrap = await tokens.bootstrap(env.OCDN_ADMIN_TOKEN);

    const metrics = createMetrics();
    const tokenLookup = new NodeTokenLookup(database.db);
    const hub = new AgentHub({
      log: log.child({ component: 'hub' }),
      managerVersion: MANAGER_VERSION,
      heartbeatIntervalMs: env.OCDN_HEARTBEAT_INTERVAL_MS,
      authenticate: (token) => tokenLookup.authenticate(token),
    });
    // The engine's step handlers need the context, so the engine joins it right after.
    const store = new DnsRecordStore(database.db);
    let dns: ManagerContext['dns'];
    if (env.OCDN_DNS_PROVIDER === 'rfc2136') {
      const provider = new Rfc2136Provider({
        server: parseServer(env.OCDN_RFC2136_SERVER!)!,
        zone: env.OCDN_DNS_ZONE,
        key: { name: env.OCDN_RFC2136_TSIG_NAME!, algorithm: env.OCDN_RFC2136_TSIG_ALGORITHM, secret: Buffer.from(env.OCDN_RFC2136_TSIG_SECRET!, 'base64') },
        ttl: env.OCDN_DNS_TTL,
        store,
        log: log.child({ component: 'dns' }),
      });
      dns = { store, server: null, provider };
    } else {
      const nameServers = env.OCDN_DNS_NS ? parseNameServers(env.OCDN_DNS_NS)! : defaultNameServers(env.OCDN_DNS_ZONE, env.OCDN_DNS_HOST);
      const server = new BuiltinDns({
        zone: env.OCDN_DNS_ZONE,
        host: env.OCDN_DNS_HOST,
        port: env.OCDN_DNS_PORT,
        ttl: env.OCDN_DNS_TTL,
        nameServers,
        maxAnswers: env.OCDN_DNS_MAX_ANSWERS,
        nice: env.OCDN_DNS_NICE,
        rtPriority: env.OCDN_DNS_RT_PRIORITY,
        isolation: env.OCDN_DNS_ISOLATION,
        answerers: env.OCDN_DNS_ANSWERERS,
        store,
        log: log.child({ component: 'dns' }),
      });
      await server.start();
      stops.push(() => server.stop());
      dns = { store, server, provider: new BuiltinProvider(store, server, env.OCDN_DNS_TTL) };
    }
    // In dependency order: the core the steps need, the engine that runs them, then everything that starts runs.
    const core: CoreContext = { env, log, database, db: database.db, hub, metrics, dns, traffic: new OCDN_TRAFFIC(hub, { agentCa: env.OCDN_AGENT_CA ? readFileSync(env.OCDN_AGENT_CA, 'utf8') : undefined }) };
    stops.push(() => core.traffic.close());
    let health: HealthMonitor | undefined;
    let forwarding: ForwardSync | undefined;
    let drift: DriftRepair | undefined;
    const engine = new PipelineEngine({
      database,
      log: log.child({ component: 'pipelines' }),
      metrics,
      handlers: parsingParams({ ...nodeStepHandlers(core), ...domainStepHandlers(core) }),
      handOver: handOver(core),
      maxDomainNodes: env.OCDN_PIPELINE_MAX_DOMAIN_NODES,
      maxHealthRuns: env.OCDN_PIPELINE_MAX_HEALTH_RUNS,
      onFinished: (_id, kind, status, subject) => {
        health?.invalidate();
        if (kind === 'RECOVER_NODE' && status === 'succeeded') drift?.recovered(subject);
      },
    });
    const ctx: ManagerContext = { ...core, engine, access: { tokens, sessions: new Sessions(database.db, tokens) }, forwardingChanged: () => afterCommit(() => forwarding?.changed()) };
    metrics.bind({ agentsConnected: () => hub.size, nodesByStatus: () => countNodesByStatus(ctx), pipelineLoad: () => engine.load(), healthWatchStreams: () => health?.watchStreams ?? 0, domainsByStatus: () => countDomainsByStatus(ctx), dnsStats: async () => (await ctx.dns.server?.stats()) ?? null, dnsReloads: () => ctx.dns.server?.reloads ?? 0 });

    await ctx.engine.start();
    stops.push(() => ctx.engine.stop());
    hub.start();
    stops.push(() => hub.stop());
    // An ADD_NODE waiting for this agent need not wait out its backoff.
    hub.on('connected', (conn) => ctx.engine.wake(conn.nodeId));
    hub.on('duplicate', (nodeId) => metrics.duplicateAgents.inc({ node: nodeId }));

    const tokenWatch = new NodeTokenWatch(database.db, hub, log.child({ component: 'hub' }));
    tokenWatch.start();
    stops.push(async () => tokenWatch.stop());
    const flusher = new HeartbeatFlusher(ctx);
    flusher.start();
    stops.push(() => flusher.stop());
    drift = new DriftRepair(ctx);
    drift.start();
    stops.push(async () => drift!.stop());
    if (ctx.dns.server) {
      // Another replica's faulty nodes out of this one's DNS answers too, at their decision's commit; recovered
      // nodes back in them.
      const withholds = new NodeStatusWithholds(database, ctx.dns.server, log.child({ component: 'dns' }));
      await withholds.start();
      stops.push(() => withholds.stop());
    }
    health = new HealthMonitor(ctx);
    await health.start();
    stops.push(() => health!.stop());
    const vod = new VodPlacement(ctx);
    vod.start();
    stops.push(() => vod.stop());
    const sync = new ForwardSync(ctx);
    forwarding = sync;
    sync.start();
    stops.push(() => sync.stop());

    const limits = [...(database.kind === 'pglite' ? [embeddedDatabaseLimit()] : []), openFilesLimit()].filter((l) => l !== null);
    if (limits.length > 0) {
      const fleet = new FleetSizeWatch(database.db, log.child({ component: 'nodes' }), limits);
      await fleet.start();
      stops.push(async () => fleet.stop());
    }

    const pruner = new AuditPruner(database, env.OCDN_AUDIT_RETENTION_DAYS, log.child({ component: 'audit' }));
    pruner.start();
    stops.push(async () => pruner.stop());

    const live = new LiveEvents(ctx);
    await live.start();
    stops.push(() => live.stop());
    const app = createHttpApp(ctx, { live });
    // Every server is up (the HTTP one has listened since the start, holding what arrives): only now is a generated
    // admin token stored (and then printed by the caller), and before any request is served — on the embedded
    // database a GET's statements go ahead of this write (db/interactive.ts), and a /healthz answered first would say
    // the manager is up before its token is printed.
    const generatedAdminToken = await bootstrap.commit();
    let port = env.OCDN_HTTP_PORT;
    const scheme = env.OCDN_HTTP_TLS_CERT ? 'https' : 'http';
    if (early) {
      const waited = early.open({
        fetch: app.fetch,
        upgrade: (req, socket, head) => {
          const path = (req.url ?? '').split('?')[0];
          if (path === '/api/v1/agent/ws') return hub.handleUpgrade(req, socket, head);
          socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        },
      });
      port = early.port;
      if (waited > 0) log.info({ requests: waited }, 'serving the requests that arrived while the manager started');
      stops.push(() => {
        const closed = early.close();
        // The agents' WebSockets left the server's HTTP connections when they were upgraded, and the server's close
        // waits for them: the hub closes them now (its own stop, later in this order, then finds none). Without this a
        // manager stopped with agents connected waited for them forever.
        void hub.stop().catch((err: unknown) => log.warn({ err }, 'closing the agents\' sockets failed'));
        return closed;
      });
      log.info({ url: `${scheme}://${env.OCDN_HTTP_HOST}:${port}`, database: database.kind }, 'manager listening');
    }
    const jemalloc = jemallocLoaded();
    log.info({ allocator: jemalloc ? 'jemalloc' : 'glibc' }, jemalloc ? 'memory allocator: jemalloc' : 'memory allocator: glibc (install libjemalloc2 and start with scripts/start-manager.sh or the unit for jemalloc)');
    const hint = mallocHint(database.kind, process.env.MALLOC_MMAP_THRESHOLD_, jemalloc);
    if (hint) log.info(hint);
    const young = youngGenerationHint(database.kind, [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)]);
    if (young) log.info(young);
    return { ctx, port, url: `${scheme}://${env.OCDN_HTTP_HOST}:${port}`, generatedAdminToken, app, live, loops: { forwarding: sync, vod, health, drift }, stop };
  } catch (err) {
    await stop();
    await early?.close(); // when the start failed before it served
    throw err;
  }
}
