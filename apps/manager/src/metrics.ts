import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import { LATENCY_BUCKETS, type DnsStats } from './dns/messages.ts';

/** Prometheus metrics of one manager process, served at /metrics. */
export interface Metrics {
  registry: Registry;
  agentsConnected: Gauge;
  nodes: Gauge<'status'>;
  pipelineRuns: Counter<'kind' | 'status'>;
  stepDuration: Histogram<'name' | 'outcome'>;
  httpRequests: Counter<'method' | 'status'>;
  healthTicks: Counter<'outcome'>;
  healthProbes: Counter<'via' | 'outcome'>;
  /** Connections refused or replaced because another agent holds the same node token. */
  duplicateAgents: Counter<'node'>;
}

export interface MetricsSources {
  agentsConnected(): number;
  nodesByStatus(): Promise<Record<string, number>>;
  domainsByStatus(): Promise<Record<string, number>>;
  /** Runs executing on this replica, and domain runs waiting for room (PipelineEngine.load). */
  pipelineLoad(): { executing: number; waiting: number };
  /** Agents' heartbeat streams the health watch thread holds open. */
  healthWatchStreams(): number;
  /** The built-in DNS's counters; null without it (rfc2136). */
  dnsStats(): Promise<DnsStats | null>;
  /** Times the built-in DNS read every record again from the database (0 without it). */
  dnsReloads(): number;
}

export function createMetrics(): Metrics & { bind(sources: MetricsSources): void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ocdn_manager_' });
  let sources: MetricsSources | undefined;
  const agentsConnected = new Gauge({
    name: 'ocdn_agents_connected',
    help: 'Agents holding a WebSocket to this manager',
    registers: [registry],
    collect() {
      this.set(sources?.agentsConnected() ?? 0);
    },
  });
  const nodes = new Gauge({
    name: 'ocdn_nodes',
    help: 'Nodes by status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      if (!sources) return;
      const counts = await sources.nodesByStatus();
      this.reset();
      for (const status of ['new', 'normal', 'fault', 'deleting', 'delete']) this.set({ status }, counts[status] ?? 0);
    },
  });
  new Gauge({
    name: 'ocdn_health_watch_streams',
    help: "Agents' heartbeat streams the health watch thread holds open: a dead agent among them is decided the moment its stream closes",
    registers: [registry],
    collect() {
      this.set(sources?.healthWatchStreams() ?? 0);
    },
  });
  new Gauge({
    name: 'ocdn_pipeline_runs_executing',
    help: 'Pipeline runs executing on this replica',
    registers: [registry],
    collect() {
      this.set(sources?.pipelineLoad().executing ?? 0);
    },
  });
  new Gauge({
    name: 'ocdn_pipeline_runs_waiting',
    help: 'Runs waiting on this replica for room in OCDN_PIPELINE_MAX_DOMAIN_NODES (domain runs) or OCDN_PIPELINE_MAX_HEALTH_RUNS (FAULT_NODE, RECOVER_NODE)',
    registers: [registry],
    collect() {
      this.set(sources?.pipelineLoad().waiting ?? 0);
    },
  });
  const pipelineRuns = new Counter({
    name: 'ocdn_pipeline_runs_total',
    help: 'Pipeline runs that finished, by kind and status',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
  });
  const stepDuration = new Histogram({
    name: 'ocdn_pipeline_step_duration_seconds',
    help: 'Duration of one attempt of a pipeline step',
    labelNames: ['name', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: 'ocdn_http_requests_total',
    help: 'HTTP requests answered, by method and status',
    labelNames: ['method', 'status'] as const,
    registers: [registry],
  });
  const healthTicks = new Counter({
    name: 'ocdn_health_ticks_total',
    help: 'Health monitor ticks of this replica: checked, or skipped because the manager itself was overloaded',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const healthProbes = new Counter({
    name: 'ocdn_health_probes_total',
    help: "Health monitor heartbeat probes over agents' HTTP APIs (nodes without a fresh link), by who made them (the health watch thread or the manager's thread) and outcome",
    labelNames: ['via', 'outcome'] as const,
    registers: [registry],
  });
  const duplicateAgents = new Counter({
    name: 'ocdn_agent_duplicate_connections_total',
    help: 'Agent connections that met another live connection of the same node (two agents sharing one node token)',
    labelNames: ['node'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'ocdn_domains',
    help: 'Domains by status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      if (!sources) return;
      const counts = await sources.domainsByStatus();
      this.reset();
      for (const status of ['normal', 'complete', 'deleting', 'delete']) this.set({ status }, counts[status] ?? 0);
    },
  });
  // The built-in DNS counts in its own process; each scrape asks it once for both metrics below.
  let dnsAsked: { at: number; stats: Promise<DnsStats | null> } | null = null;
  const dnsStats = () => {
    const now = Date.now();
    if (!dnsAsked || now - dnsAsked.at > 500) dnsAsked = { at: now, stats: sources ? sources.dnsStats() : Promise.resolve(null) };
    return dnsAsked.stats;
  };
  new Counter({
    name: 'ocdn_dns_queries_total',
    help: 'Queries the built-in DNS answered, by rcode (truncated answers also count in ocdn_dns_truncated_total)',
    labelNames: ['rcode'] as const,
    registers: [registry],
    async collect() {
      const stats = await dnsStats();
      this.reset();
      for (const [rcode, n] of Object.entries(stats?.byRcode ?? {})) this.inc({ rcode }, n);
    },
  });
  new Counter({
    name: 'ocdn_dns_truncated_total',
    help: 'Answers of the built-in DNS sent truncated (TC) because the client could not take them over UDP',
    registers: [registry],
    async collect() {
      const stats = await dnsStats();
      this.reset();
      this.inc(stats?.truncated ?? 0);
    },
  });
  new Gauge({
    name: 'ocdn_dns_withheld_addresses',
    help: 'Addresses the built-in DNS leaves out of its answers now: nodes just decided faulty, until their records are deleted or published again',
    registers: [registry],
    async collect() {
      this.set((await dnsStats())?.withheld ?? 0);
    },
  });
  new Counter({
    name: 'ocdn_dns_reloads_total',
    help: "Times the built-in DNS read every record again from the database: another replica's change (this replica's own changes apply without one)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources?.dnsReloads() ?? 0);
    },
  });
  registry.registerMetric(dnsAnswerSeconds(dnsStats));
  return {
    registry,
    healthTicks,
    healthProbes,
    duplicateAgents,
    agentsConnected,
    nodes,
    pipelineRuns,
    stepDuration,
    httpRequests,
    bind(s) {
      sources = s;
    },
  };
}

/**
 * `ocdn_dns_answer_seconds`: a histogram kept by the DNS answerer, a thread or a process (prom-client's own cannot be fed counts from
 * elsewhere), served in the Prometheus histogram form.
 */
function dnsAnswerSeconds(stats: () => Promise<DnsStats | null>): Metric {
  const name = 'ocdn_dns_answer_seconds';
  return {
    name,
    help: 'Time the built-in DNS took to answer a query once read from its socket',
    type: 'histogram',
    aggregator: 'sum',
    async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
      const s = await stats();
      const values: MetricValueWithName<string>[] = LATENCY_BUCKETS.map((le, i) => ({ metricName: `${name}_bucket`, labels: { le }, value: s?.buckets[i] ?? 0 }));
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: s?.count ?? 0 });
      values.push({ metricName: `${name}_sum`, labels: {}, value: s?.sum ?? 0 }, { metricName: `${name}_count`, labels: {}, value: s?.count ?? 0 });
      return { name, help: 'Time the built-in DNS took to answer a query once read from its socket', type: 'histogram', aggregator: 'sum', values } as never;
    },
    reset() {},
  } as unknown as Metric;
}
