import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one manager process, served at /metrics. */
export interface Metrics {
  registry: Registry;
  agentsConnected: Gauge;
  nodes: Gauge<'status'>;
  pipelineRuns: Counter<'kind' | 'status'>;
  stepDuration: Histogram<'name' | 'outcome'>;
  httpRequests: Counter<'method' | 'status'>;
  healthTicks: Counter<'outcome'>;
  /** Connections refused or replaced because another agent holds the same node token. */
  duplicateAgents: Counter<'node'>;
}

export interface MetricsSources {
  agentsConnected(): number;
  nodesByStatus(): Promise<Record<string, number>>;
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
  const duplicateAgents = new Counter({
    name: 'ocdn_agent_duplicate_connections_total',
    help: 'Agent connections that met another live connection of the same node (two agents sharing one node token)',
    labelNames: ['node'] as const,
    registers: [registry],
  });
  return {
    registry,
    healthTicks,
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
