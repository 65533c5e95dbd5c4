import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api, type Overview } from '../api';
import { ErrorText, Loading } from '../ui';

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

function Card({ title, value, children, href }: { title: string; value: string | number; href?: string; children?: React.ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <h2>{href ? <Link href={href}>{title}</Link> : title}</h2>
      <p className="big">{value}</p>
      {children}
    </section>
  );
}

function Counts({ counts }: { counts: Record<string, number> }) {
  const entries = Object.entries(counts);
  if (entries.length === 0) return <p className="muted">none</p>;
  return (
    <ul className="counts">
      {entries.map(([k, v]) => (
        <li key={k}>
          <span className={`status ${k}`}>{k}</span> {v}
        </li>
      ))}
    </ul>
  );
}

/** Pipelines finished per hour over the last day: succeeded above the line, failed below. */
function OutcomeChart({ history }: { history: Overview['history'] }) {
  const max = Math.max(1, ...history.map((h) => Math.max(h.succeeded, h.failed)));
  const w = 24;
  const total = history.reduce((a, h) => ({ s: a.s + h.succeeded, f: a.f + h.failed }), { s: 0, f: 0 });
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${history.length * w} 120`} role="img" aria-label={`Pipeline outcomes, last 24 hours: ${total.s} succeeded, ${total.f} failed`} preserveAspectRatio="none">
        <line x1="0" x2={history.length * w} y1="60" y2="60" className="axis" />
        {history.map((h, i) => (
          <g key={h.from}>
            <title>{`${new Date(h.from).toLocaleString()}: ${h.succeeded} succeeded, ${h.failed} failed`}</title>
            <rect x={i * w + 3} width={w - 6} y={60 - (h.succeeded / max) * 56} height={(h.succeeded / max) * 56} className="ok" />
            <rect x={i * w + 3} width={w - 6} y={60} height={(h.failed / max) * 56} className="bad" />
          </g>
        ))}
      </svg>
      <figcaption>Pipelines finished per hour, last 24 hours (succeeded up, failed down)</figcaption>
    </figure>
  );
}

export function OverviewPage() {
  const q = useQuery({ queryKey: ['overview'], queryFn: () => api<Overview>('GET', '/api/v1/overview') });
  if (q.error) return <ErrorText error={q.error} />;
  if (!q.data) return <Loading what="the overview" />;
  const o = q.data;
  return (
    <>
      <h1>Overview</h1>
      <div className="cards">
        <Card title="Nodes" value={sum(o.nodes)} href="/nodes">
          <Counts counts={o.nodes} />
        </Card>
        <Card title="Agents connected" value={o.agentsConnected} />
        <Card title="Pipelines running" value={o.pipelines.running + o.pipelines.pending} href="/pipelines">
          <p>
            {o.pipelines.failedLastHour} failed, {o.pipelines.succeededLastHour} succeeded in the last hour
          </p>
        </Card>
        <Card title="Domains" value={sum(o.domains)} href="/domains">
          <Counts counts={o.domains} />
        </Card>
        <Card title="Published records" value={o.dnsRecords} href="/dns" />
        <Card title="VOD queue" value={sum(o.vodTasks)} href="/vod">
          <Counts counts={o.vodTasks} />
        </Card>
      </div>
      <OutcomeChart history={o.history} />
    </>
  );
}
