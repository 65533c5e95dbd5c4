import { useState } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import { api, type AuditEntry, type Page } from '../api';
import { useCan } from '../session';
import { ErrorText, Field, Loading, Status } from '../ui';

type Change = { path: string; before: unknown; after: unknown };

/** What changed between two views of a resource, field by field (nested objects by their path). */
export function diff(before: unknown, after: unknown, path = ''): Change[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => diff(before[k], after[k], path ? `${path}.${k}` : k));
  }
  return [{ path: path || '(whole)', before, after }];
}

const show = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

function Diff({ e }: { e: AuditEntry }) {
  const changes = diff(e.before ?? null, e.after ?? null);
  if (changes.length === 0) return <span className="muted">no change</span>;
  if (e.before == null) return <span>created</span>;
  if (e.after == null) return <span>deleted</span>;
  return (
    <ul className="diff">
      {changes.map((c) => (
        <li key={c.path}>
          <code>{c.path}</code>: <del>{show(c.before)}</del> → <ins>{show(c.after)}</ins>
        </li>
      ))}
    </ul>
  );
}

export function AuditPage() {
  const allowed = useCan('operator');
  const [actor, setActor] = useState('');
  const [resourceType, setType] = useState('');
  const [resourceId, setId] = useState('');
  const filter = { ...(actor.trim() && { actor: actor.trim() }), ...(resourceType.trim() && { resourceType: resourceType.trim() }), ...(resourceId.trim() && { resourceId: resourceId.trim() }) };
  const q = useInfiniteQuery({
    queryKey: ['audit', filter],
    enabled: allowed,
    initialPageParam: '',
    queryFn: ({ pageParam }) => api<Page<AuditEntry>>('GET', `/api/v1/audit?${new URLSearchParams({ ...filter, limit: '50', ...(pageParam && { cursor: pageParam }) })}`),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  if (!allowed) return (<><h1>Audit</h1><p>The audit log needs an operator or admin token.</p></>);
  const entries = q.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <>
      <h1>Audit</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit log">
        <Field label="Actor">{(id) => <input id={id} value={actor} onChange={(e) => setActor(e.target.value)} placeholder="token name or id" />}</Field>
        <Field label="Resource type">{(id) => <input id={id} value={resourceType} onChange={(e) => setType(e.target.value)} placeholder="domain, node, token…" />}</Field>
        <Field label="Resource ID">{(id) => <input id={id} value={resourceId} onChange={(e) => setId(e.target.value)} />}</Field>
      </form>
      <ErrorText error={q.error} />
      {!q.data ? (
        !q.error && <Loading what="the audit log" />
      ) : (
        <div className="scroll">
          <table>
            <caption>Audit log</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Request</th>
                <th scope="col">Resource</th>
                <th scope="col">Status</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td>{new Date(e.at).toLocaleString()}</td>
                  <th scope="row">{e.actor ? `${e.actor.name} (${e.actor.role})` : 'anonymous'}</th>
                  <td>
                    {e.method} {e.route}
                  </td>
                  <td>{e.resourceType ? `${e.resourceType} ${e.resourceId ?? ''}` : '—'}</td>
                  <td>
                    <Status value={String(e.status)} />
                  </td>
                  <td>
                    <Diff e={e} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {q.hasNextPage && (
        <button type="button" onClick={() => q.fetchNextPage()} disabled={q.isFetchingNextPage}>
          Load more
        </button>
      )}
    </>
  );
}
