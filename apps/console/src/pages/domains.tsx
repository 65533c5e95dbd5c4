import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useLocation } from 'wouter';
import { api, type DnsRecord, type Domain, type Page, type Pipeline, listAll } from '../api';
import { useCan } from '../session';
import { Disclosure, ErrorText, Field, Loading, Status, useAction } from '../ui';
import { useNodes } from './nodes';
import { PipelineRuns } from './pipelines';

const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean);

function AddDomain({ close }: { close: () => void }) {
  const [domain, setDomain] = useState('');
  const [origins, setOrigins] = useState('');
  const [, navigate] = useLocation();
  const act = useAction((body: unknown) => api<{ domain: Domain }>('POST', '/api/v1/domains', body), [['domains']]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await act.run({ domain: domain.trim(), origins: lines(origins) });
    if (r) {
      close();
      navigate(`/domains/${encodeURIComponent(r.domain.domain)}`);
    }
  };
  return (
    <form onSubmit={submit} className="form">
      <Field label="Domain">{(id) => <input id={id} required value={domain} onChange={(e) => setDomain(e.target.value)} placeholder="www.example.com" />}</Field>
      <Field label="Origins" hint="one per line, http(s)://host[:port]">
        {(id) => <textarea id={id} required rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} placeholder="http://192.0.2.20:8080" />}
      </Field>
      <button type="submit" disabled={act.busy}>
        Add
      </button>
      <ErrorText error={act.error} />
    </form>
  );
}

export function DomainsPage() {
  const q = useQuery({ queryKey: ['domains'], queryFn: () => listAll<Domain>('/api/v1/domains') });
  const operator = useCan('operator');
  return (
    <>
      <h1>Domains</h1>
      {operator && <Disclosure label="Add domain">{(close) => <AddDomain close={close} />}</Disclosure>}
      <ErrorText error={q.error} />
      {!q.data ? (
        !q.error && <Loading what="domains" />
      ) : (
        <div className="scroll">
          <table>
            <caption>Domains</caption>
            <thead>
              <tr>
                <th scope="col">Domain</th>
                <th scope="col">Status</th>
                <th scope="col">Published name</th>
                <th scope="col">Nodes</th>
                <th scope="col">Config version</th>
              </tr>
            </thead>
            <tbody>
              {q.data.items.map((d) => (
                <tr key={d.domain}>
                  <th scope="row">
                    <Link href={`/domains/${encodeURIComponent(d.domain)}`}>{d.domain}</Link>
                  </th>
                  <td>
                    <Status value={d.status} />
                  </td>
                  <td>{d.cname}</td>
                  <td>
                    {d.nodes.filter((n) => n.status === 'complete').length} / {d.nodes.length}
                  </td>
                  <td>{d.configVersion}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function ChangeOrigins({ d }: { d: Domain }) {
  const [origins, setOrigins] = useState(d.origins.join('\n'));
  const act = useAction((body: unknown) => api('PATCH', `/api/v1/domains/${encodeURIComponent(d.domain)}`, body), [['domain', d.domain], ['pipelines']]);
  return (
    <form className="form" onSubmit={(e) => (e.preventDefault(), void act.run({ origins: lines(origins) }))}>
      <Field label="Origins" hint="one per line">{(id) => <textarea id={id} rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} />}</Field>
      <button type="submit" disabled={act.busy}>
        Save origins
      </button>
      <ErrorText error={act.error} />
    </form>
  );
}

function JoinNode({ d }: { d: Domain }) {
  const nodes = useNodes();
  const candidates = (nodes.data?.items ?? []).filter((n) => n.status === 'normal' && n.roles.includes('cdn') && !d.nodes.some((x) => x.nodeId === n.id && x.status !== 'delete'));
  const [nodeId, setNodeId] = useState('');
  const act = useAction((body: unknown) => api('POST', `/api/v1/domains/${encodeURIComponent(d.domain)}/nodes`, body), [['pipelines']]);
  return (
    <form className="form" onSubmit={(e) => (e.preventDefault(), void act.run({ nodeId }))}>
      <Field label="Node to join">
        {(id) => (
          <select id={id} required value={nodeId} onChange={(e) => setNodeId(e.target.value)}>
            <option value="">choose a node</option>
            {candidates.map((n) => (
              <option key={n.id} value={n.id}>
                {n.name} ({n.ip})
              </option>
            ))}
          </select>
        )}
      </Field>
      <button type="submit" disabled={act.busy || !nodeId}>
        Join node
      </button>
      <ErrorText error={act.error} />
    </form>
  );
}

function DeleteDomain({ d }: { d: Domain }) {
  const [typed, setTyped] = useState('');
  const act = useAction(() => api('DELETE', `/api/v1/domains/${encodeURIComponent(d.domain)}`), [['domains'], ['pipelines']]);
  return (
    <form className="form" onSubmit={(e) => (e.preventDefault(), void act.run())}>
      <p>
        Deleting <strong>{d.domain}</strong> removes its configuration from every node and its name from DNS.
      </p>
      <Field label={`Type ${d.domain} to confirm`}>{(id) => <input id={id} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />}</Field>
      <button type="submit" className="danger" disabled={typed !== d.domain || act.busy}>
        Delete {d.domain}
      </button>
      <ErrorText error={act.error} />
    </form>
  );
}

export function DomainPage({ domain }: { domain: string }) {
  const q = useQuery({ queryKey: ['domain', domain], queryFn: () => api<Domain>('GET', `/api/v1/domains/${encodeURIComponent(domain)}`) });
  const records = useQuery({ queryKey: ['dns-records'], queryFn: () => listAll<DnsRecord>('/api/v1/dns/records') });
  const nodes = useNodes();
  const runs = useQuery({ queryKey: ['pipelines', { subject: domain }], queryFn: () => api<Page<Pipeline>>('GET', `/api/v1/pipelines?subject=${encodeURIComponent(domain)}&limit=20`) });
  const operator = useCan('operator');
  if (q.error) return <ErrorText error={q.error} />;
  if (!q.data) return <Loading what={domain} />;
  const d = q.data;
  const nameOf = (id: string) => nodes.data?.items.find((n) => n.id === id)?.name ?? id;
  const published = (records.data?.items ?? []).filter((r) => r.name === d.cname);
  return (
    <>
      <p>
        <Link href="/domains">Domains</Link> /
      </p>
      <h1>{d.domain}</h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <Status value={d.status} />
        </dd>
        <dt>Published name</dt>
        <dd>{d.cname}</dd>
        <dt>Records</dt>
        <dd>{published.length ? published.map((r) => `${r.type} ${r.value}`).join(', ') : 'none published'}</dd>
        <dt>Origins</dt>
        <dd>{d.origins.join(', ')}</dd>
        <dt>Config version</dt>
        <dd>{d.configVersion}</dd>
      </dl>
      <div className="scroll">
        <table>
          <caption>Domain nodes</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">IP</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {d.nodes.map((n) => (
              <tr key={n.nodeId}>
                <th scope="row">{nameOf(n.nodeId)}</th>
                <td>{n.ip}</td>
                <td>
                  <Status value={n.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {operator && d.status !== 'delete' && (
        <div className="row">
          <Disclosure label="Change origins">{() => <ChangeOrigins d={d} />}</Disclosure>
          <Disclosure label="Join a node">{() => <JoinNode d={d} />}</Disclosure>
          <Disclosure label="Delete domain">{() => <DeleteDomain d={d} />}</Disclosure>
        </div>
      )}
      <h2>Pipelines</h2>
      <ErrorText error={runs.error} />
      {runs.data && <PipelineRuns runs={runs.data.items} />}
    </>
  );
}
