import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, PIPELINE_KINDS, PIPELINE_STATUSES, type Page, type Pipeline } from '../api';
import { useCan } from '../session';
import { ErrorText, Field, Loading, Status, useAction, when } from '../ui';

/** A run's steps in order, each with its status, attempts and error. */
function Steps({ run }: { run: Pipeline }) {
  return (
    <ol className="timeline" aria-label={`Steps of ${run.kind} ${run.subject}`}>
      {run.steps.map((s, i) => (
        <li key={i} className={`step ${s.status}`}>
          <span className="step-name">{s.name}</span>
          {s.target && <span className="muted"> {s.target}</span>} <Status value={s.status} />
          {s.attempts > 1 && <span className="muted"> {s.attempts} attempts</span>}
          {s.error && <p className={s.status === 'skipped' ? 'muted' : 'error'}>{s.error}</p>}
        </li>
      ))}
    </ol>
  );
}

function Retry({ run }: { run: Pipeline }) {
  const act = useAction(() => api('POST', `/api/v1/pipelines/${run.id}/retry`), [['pipelines']]);
  return (
    <>
      <button type="button" onClick={() => act.run()} disabled={act.busy} aria-label="Retry">
        Retry
      </button>
      <ErrorText error={act.error} />
    </>
  );
}

/** Runs as a table, each with its steps (the domain page and the pipelines page). */
export function PipelineRuns({ runs }: { runs: Pipeline[] }) {
  const operator = useCan('operator');
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (id: string) => setOpen((o) => new Set(o.has(id) ? [...o].filter((x) => x !== id) : [...o, id]));
  return (
    <div className="scroll">
      <table>
        <caption>Pipelines</caption>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Subject</th>
            <th scope="col">Status</th>
            <th scope="col">Steps</th>
            <th scope="col">Started</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => {
            const done = r.steps.filter((s) => s.status === 'succeeded').length;
            return (
              <tr key={r.id}>
                <th scope="row">{r.kind}</th>
                <td>{r.subject}</td>
                <td>
                  <Status value={r.status} />
                </td>
                <td>
                  <button type="button" className="link" aria-expanded={open.has(r.id) || r.status === 'failed'} onClick={() => toggle(r.id)}>
                    {done} / {r.steps.length} steps
                  </button>
                  {(open.has(r.id) || r.status === 'failed') && <Steps run={r} />}
                </td>
                <td>{when(r.createdAt)}</td>
                <td>{operator && r.status === 'failed' && <Retry run={r} />}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function PipelinesPage() {
  const [kind, setKind] = useState('');
  const [subject, setSubject] = useState('');
  const [status, setStatus] = useState('');
  const filter = { ...(kind && { kind }), ...(subject.trim() && { subject: subject.trim() }), ...(status && { status }) };
  const q = useQuery({
    queryKey: ['pipelines', filter],
    queryFn: () => api<Page<Pipeline>>('GET', `/api/v1/pipelines?${new URLSearchParams({ ...filter, limit: '100' })}`),
  });
  return (
    <>
      <h1>Pipelines</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter pipelines">
        <Field label="Kind">
          {(id) => (
            <select id={id} value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="">any</option>
              {PIPELINE_KINDS.map((k) => (
                <option key={k}>{k}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Subject">{(id) => <input id={id} value={subject} onChange={(e) => setSubject(e.target.value)} placeholder="domain or node id" />}</Field>
        <Field label="Status">
          {(id) => (
            <select id={id} value={status} onChange={(e) => setStatus(e.target.value)}>
              <option value="">any</option>
              {PIPELINE_STATUSES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          )}
        </Field>
      </form>
      <ErrorText error={q.error} />
      {q.data ? <PipelineRuns runs={q.data.items} /> : !q.error && <Loading what="pipelines" />}
    </>
  );
}
