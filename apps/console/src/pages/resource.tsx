// A list of simple forwarding resources (views, forwarder groups, domain groups, time schedulers) with create,
// edit and delete, driven by a description of their fields.
import { useState, type FormEvent, type ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, type Page, listAll } from '../api';
import { useCan } from '../session';
import { Disclosure, ErrorText, Field, Loading, useAction } from '../ui';

export interface FieldSpec {
  key: string;
  label: string;
  /** `periods`: time periods, one `begin - end` per line. */
  kind: 'text' | 'lines' | 'select' | 'periods';
  options?: readonly string[];
  hint?: string;
  /** Sent only when creating (the API's PATCH does not take it). */
  createOnly?: boolean;
  optional?: boolean;
}

type Item = Record<string, unknown> & { id?: string; name: string };

type Period = { beginTime: string; endTime: string };
function toForm(f: FieldSpec, v: unknown): string {
  if (f.kind === 'lines') return ((v as string[] | undefined) ?? []).join('\n');
  if (f.kind === 'periods') return ((v as Period[] | undefined) ?? []).map((p) => `${p.beginTime} - ${p.endTime}`).join('\n');
  return (v as string | null | undefined) ?? '';
}
function fromForm(f: FieldSpec, v: string): unknown {
  const lines = v.split('\n').map((l) => l.trim()).filter(Boolean);
  if (f.kind === 'lines') return lines;
  if (f.kind === 'periods') {
    return lines.map((l) => {
      const [beginTime = '', endTime = ''] = l.split('-').map((x) => x.trim());
      return { beginTime, endTime };
    });
  }
  return v.trim();
}

function ItemForm({ fields, initial, submitLabel, onSubmit, error, busy }: { fields: FieldSpec[]; initial?: Item; submitLabel: string; onSubmit: (body: Record<string, unknown>) => void; error: unknown; busy: boolean }) {
  const shown = initial ? fields.filter((f) => !f.createOnly) : fields;
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(shown.map((f) => [f.key, toForm(f, initial?.[f.key] ?? (f.kind === 'select' ? f.options?.[0] : undefined))])));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = {};
    for (const f of shown) {
      const v = fromForm(f, values[f.key] ?? '');
      if (f.optional && (v === '' || (Array.isArray(v) && v.length === 0)) && !initial) continue;
      body[f.key] = v;
    }
    onSubmit(body);
  };
  return (
    <form className="form" onSubmit={submit}>
      {shown.map((f) => (
        <Field key={f.key} label={f.label} {...(f.hint ? { hint: f.hint } : {})}>
          {(id) =>
            f.kind === 'lines' || f.kind === 'periods' ? (
              <textarea id={id} rows={3} value={values[f.key]} onChange={(e) => setValues({ ...values, [f.key]: e.target.value })} />
            ) : f.kind === 'select' ? (
              <select id={id} value={values[f.key]} onChange={(e) => setValues({ ...values, [f.key]: e.target.value })}>
                {f.options!.map((o) => (
                  <option key={o}>{o}</option>
                ))}
              </select>
            ) : (
              <input id={id} value={values[f.key]} required={!f.optional} onChange={(e) => setValues({ ...values, [f.key]: e.target.value })} />
            )
          }
        </Field>
      ))}
      <button type="submit" disabled={busy}>
        {submitLabel}
      </button>
      <ErrorText error={error} />
    </form>
  );
}

function Row({ item, fields, path, queryKey, columns, idKey }: { item: Item; fields: FieldSpec[]; path: string; queryKey: string; columns: ((i: Item) => ReactNode)[]; idKey: 'id' | 'name' }) {
  const operator = useCan('operator');
  const [editing, setEditing] = useState(false);
  const url = `${path}/${encodeURIComponent(String(item[idKey]))}`;
  const save = useAction((body: unknown) => api('PATCH', url, body), [[queryKey]]);
  const remove = useAction(() => api('DELETE', url), [[queryKey]]);
  return (
    <tr>
      <th scope="row">{item.name}</th>
      {columns.map((c, i) => (
        <td key={i}>{c(item)}</td>
      ))}
      {operator && (
        <td>
          <div className="actions">
            <button type="button" aria-expanded={editing} aria-label={`Edit ${item.name}`} onClick={() => setEditing(!editing)}>
              Edit
            </button>
            {!(idKey === 'name' && item.name === 'default') && (
              <button type="button" className="danger" aria-label={`Delete ${item.name}`} onClick={() => window.confirm(`Delete ${item.name}?`) && remove.run()}>
                Delete
              </button>
            )}
          </div>
          <ErrorText error={remove.error} />
          {editing && <ItemForm fields={fields} initial={item} submitLabel="Save" busy={save.busy} error={save.error} onSubmit={async (b) => (await save.run(b)) !== undefined && setEditing(false)} />}
        </td>
      )}
    </tr>
  );
}

export function ResourceSection({ title, noun, path, queryKey, fields, columns, headers, idKey = 'id', extra }: { title: string; noun: string; path: string; queryKey: string; fields: FieldSpec[]; columns: ((i: Item) => ReactNode)[]; headers: string[]; idKey?: 'id' | 'name'; extra?: (items: Item[]) => ReactNode }) {
  const q = useQuery({ queryKey: [queryKey], queryFn: () => listAll<Item>(path) });
  const operator = useCan('operator');
  const create = useAction((body: unknown) => api('POST', path, body), [[queryKey]]);
  return (
    <section aria-labelledby={`${queryKey}-h`}>
      <h2 id={`${queryKey}-h`}>{title}</h2>
      {operator && (
        <Disclosure label={`Add ${noun}`}>{(close) => <ItemForm fields={fields} submitLabel="Create" busy={create.busy} error={create.error} onSubmit={async (b) => (await create.run(b)) !== undefined && close()} />}</Disclosure>
      )}
      <ErrorText error={q.error} />
      {!q.data ? (
        !q.error && <Loading what={title.toLowerCase()} />
      ) : (
        <>
          <div className="scroll">
            <table>
              <caption>{title}</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  {headers.map((h) => (
                    <th scope="col" key={h}>
                      {h}
                    </th>
                  ))}
                  {operator && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {q.data.items.map((i) => (
                  <Row key={String(i[idKey])} item={i} fields={fields} path={path} queryKey={queryKey} columns={columns} idKey={idKey} />
                ))}
              </tbody>
            </table>
          </div>
          {extra?.(q.data.items)}
        </>
      )}
    </section>
  );
}
