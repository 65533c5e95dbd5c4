import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { ApiError, api, type DomainGroup, type ForwarderGroup, type ForwardZone, type Page, type TimeScheduler, type View, listAll } from '../api';
import { useCan } from '../session';
import { Disclosure, ErrorText, Field, Loading, Status, useAction } from '../ui';
import { ResourceSection } from './resource';
import { Timeline } from './timeline';

const TIME_TYPES = ['daily', 'weekly', 'monthly', 'date'] as const;
const PERIOD_HINT = 'one period per line, "begin - end": daily 23:00 - 5:00, weekly 5 17:00 - 1 2:00 (0 = Sunday), monthly (yearly) 12 31 0:00 - 1 2 0:00, date 2030 1 1 0:00 - 2030 1 8 0:00';

function useList<T>(key: string, path: string) {
  return useQuery({ queryKey: [key], queryFn: () => listAll<T>(path) });
}

function Checks({ legend, options, value, onChange }: { legend: string; options: { id: string; name: string }[]; value: string[]; onChange: (v: string[]) => void }) {
  return (
    <fieldset className="field">
      <legend>{legend}</legend>
      {options.length === 0 && <span className="muted">none yet</span>}
      {options.map((o) => (
        <label key={o.id} className="check">
          <input type="checkbox" checked={value.includes(o.id)} onChange={(e) => onChange(e.target.checked ? [...value, o.id] : value.filter((x) => x !== o.id))} /> {o.name}
        </label>
      ))}
    </fieldset>
  );
}

/** The API's 409 names the other zone by id: say which zone that is. */
function ConflictText({ error, zones }: { error: unknown; zones: ForwardZone[] }) {
  const otherId = error instanceof ApiError && error.code === 'conflict' ? (error.details as { zoneId?: string } | undefined)?.zoneId : undefined;
  const other = otherId ? zones.find((z) => z.id === otherId) : undefined;
  return (
    <>
      <ErrorText error={error} />
      {other && (
        <p className="error">
          Conflicts with the forward zone for {other.domain ?? other.forwardItemType} ({other.forwardStyle}, id {other.id}).
        </p>
      )}
    </>
  );
}

function ZoneForm({ view, zones, initial, done }: { view: string; zones: ForwardZone[]; initial?: ForwardZone; done: () => void }) {
  const fgs = useList<ForwarderGroup>('forwarder-groups', '/api/v1/forwarder-groups');
  const dgs = useList<DomainGroup>('domain-groups', '/api/v1/domain-groups');
  const tss = useList<TimeScheduler>('time-schedulers', '/api/v1/time-schedulers');
  const [type, setType] = useState<ForwardZone['forwardItemType']>(initial?.forwardItemType ?? 'domain');
  const [domain, setDomain] = useState(initial?.domain ?? '');
  const [groups, setGroups] = useState<string[]>(initial?.domainGroupIds ?? []);
  const [forwarders, setForwarders] = useState<string[]>(initial?.forwarderGroupIds ?? []);
  const [style, setStyle] = useState<ForwardZone['forwardStyle']>(initial?.forwardStyle ?? 'first');
  const [scheduler, setScheduler] = useState(initial?.timeScheduler ?? '');
  const [comment, setComment] = useState(initial?.comment ?? '');
  const base = `/api/v1/views/${encodeURIComponent(view)}/forward-zones`;
  const act = useAction((body: unknown) => (initial ? api('PATCH', `${base}/${initial.id}`, body) : api('POST', base, body)), [['zones', view]]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const common = { forwarderGroupIds: forwarders, timeScheduler: scheduler || null, comment };
    const body = initial ? common : { ...common, forwardItemType: type, forwardStyle: style, ...(type === 'domain' && { domain: domain.trim() }), ...(type === 'domain_group' && { domainGroupIds: groups }) };
    if ((await act.run(body)) !== undefined) done();
  };
  return (
    <form className="form" onSubmit={submit}>
      {!initial && (
        <>
          <Field label="Type">
            {(id) => (
              <select id={id} value={type} onChange={(e) => setType(e.target.value as typeof type)}>
                <option value="root">root</option>
                <option value="domain">domain</option>
                <option value="domain_group">domain_group</option>
              </select>
            )}
          </Field>
          {type === 'domain' && <Field label="Domain">{(id) => <input id={id} required value={domain} onChange={(e) => setDomain(e.target.value)} placeholder="corp.example" />}</Field>}
          {type === 'domain_group' && <Checks legend="Domain groups" options={dgs.data?.items ?? []} value={groups} onChange={setGroups} />}
          <Field label="Forward style">
            {(id) => (
              <select id={id} value={style} onChange={(e) => setStyle(e.target.value as typeof style)}>
                <option value="first">first</option>
                <option value="only">only</option>
              </select>
            )}
          </Field>
        </>
      )}
      <Checks legend="Forwarder groups" options={fgs.data?.items ?? []} value={forwarders} onChange={setForwarders} />
      <Field label="Time scheduler">
        {(id) => (
          <select id={id} value={scheduler} onChange={(e) => setScheduler(e.target.value)}>
            <option value="">always</option>
            {(tss.data?.items ?? []).map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Comment">{(id) => <input id={id} value={comment} onChange={(e) => setComment(e.target.value)} />}</Field>
      <button type="submit" disabled={act.busy}>
        {initial ? 'Save' : 'Create zone'}
      </button>
      <ConflictText error={act.error} zones={zones} />
    </form>
  );
}

function ZoneRow({ z, zones, names }: { z: ForwardZone; zones: ForwardZone[]; names: { fg: (id: string) => string; ts: (id: string | null) => string; dg: (id: string) => string } }) {
  const operator = useCan('operator');
  const [editing, setEditing] = useState(false);
  const remove = useAction(() => api('DELETE', `/api/v1/views/${encodeURIComponent(z.view)}/forward-zones/${z.id}`), [['zones', z.view]]);
  const label = z.forwardItemType === 'domain_group' ? z.domainGroupIds.map(names.dg).join(', ') : (z.domain ?? '@');
  return (
    <tr>
      <th scope="row">{label}</th>
      <td>{z.forwardItemType}</td>
      <td>{z.forwardStyle}</td>
      <td>{z.forwarderGroupIds.map(names.fg).join(', ')}</td>
      <td>{names.ts(z.timeScheduler)}</td>
      <td>
        <Status value={z.active ? 'active' : 'inactive'} />
      </td>
      {operator && (
        <td>
          <div className="actions">
            <button type="button" aria-expanded={editing} aria-label={`Edit zone ${label}`} onClick={() => setEditing(!editing)}>
              Edit
            </button>
            <button type="button" className="danger" aria-label={`Delete zone ${label}`} onClick={() => window.confirm(`Delete the forward zone ${label}?`) && remove.run()}>
              Delete
            </button>
          </div>
          <ErrorText error={remove.error} />
          {editing && <ZoneForm view={z.view} zones={zones} initial={z} done={() => setEditing(false)} />}
        </td>
      )}
    </tr>
  );
}

function Zones() {
  const views = useList<View>('views', '/api/v1/views');
  const [view, setView] = useState('default');
  const zones = useQuery({ queryKey: ['zones', view], queryFn: () => listAll<ForwardZone>(`/api/v1/views/${encodeURIComponent(view)}/forward-zones`) });
  const fgs = useList<ForwarderGroup>('forwarder-groups', '/api/v1/forwarder-groups');
  const dgs = useList<DomainGroup>('domain-groups', '/api/v1/domain-groups');
  const tss = useList<TimeScheduler>('time-schedulers', '/api/v1/time-schedulers');
  const operator = useCan('operator');
  const items = zones.data?.items ?? [];
  const names = {
    fg: (id: string) => fgs.data?.items.find((g) => g.id === id)?.name ?? id,
    dg: (id: string) => dgs.data?.items.find((g) => g.id === id)?.name ?? id,
    ts: (id: string | null) => (id ? (tss.data?.items.find((t) => t.id === id)?.name ?? id) : 'always'),
  };
  return (
    <section aria-labelledby="zones-h">
      <h2 id="zones-h">Forward zones</h2>
      <Field label="View">
        {(id) => (
          <select id={id} value={view} onChange={(e) => setView(e.target.value)}>
            {(views.data?.items ?? [{ name: 'default' }]).map((v) => (
              <option key={v.name}>{v.name}</option>
            ))}
          </select>
        )}
      </Field>
      {operator && <Disclosure label="Add forward zone">{(close) => <ZoneForm view={view} zones={items} done={close} />}</Disclosure>}
      <ErrorText error={zones.error} />
      {!zones.data ? (
        !zones.error && <Loading what="forward zones" />
      ) : (
        <>
          <div className="scroll">
            <table>
              <caption>Forward zones</caption>
              <thead>
                <tr>
                  <th scope="col">Domain</th>
                  <th scope="col">Type</th>
                  <th scope="col">Style</th>
                  <th scope="col">Forwarders</th>
                  <th scope="col">Scheduler</th>
                  <th scope="col">Active</th>
                  {operator && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {items.map((z) => (
                  <ZoneRow key={z.id} z={z} zones={items} names={names} />
                ))}
              </tbody>
            </table>
          </div>
          {items.length > 0 && (
            <Timeline
              timezone="each scheduler's time zone"
              rows={items.map((z) => ({ label: `${z.domain ?? z.domainGroupIds.map(names.dg).join(', ')} (${z.forwardStyle})`, schedule: z.timeScheduler ? (tss.data?.items.find((t) => t.id === z.timeScheduler) ?? null) : null }))}
            />
          )}
        </>
      )}
    </section>
  );
}

export function ForwardingPage() {
  return (
    <>
      <h1>Forwarding</h1>
      <Zones />
      <ResourceSection
        title="Forwarder groups"
        noun="forwarder group"
        path="/api/v1/forwarder-groups"
        queryKey="forwarder-groups"
        headers={['Addresses', 'Comment']}
        columns={[(i) => (i.addresses as string[]).join(', '), (i) => String(i.comment ?? '')]}
        fields={[
          { key: 'name', label: 'Name', kind: 'text', createOnly: true },
          { key: 'addresses', label: 'Addresses', kind: 'lines', hint: 'one per line: IPv4, IPv4:port, IPv6 or [IPv6]:port' },
          { key: 'comment', label: 'Comment', kind: 'text', optional: true },
        ]}
      />
      <ResourceSection
        title="Domain groups"
        noun="domain group"
        path="/api/v1/domain-groups"
        queryKey="domain-groups"
        headers={['Domains', 'Comment']}
        columns={[(i) => (i.domains as string[]).join(', '), (i) => String(i.comment ?? '')]}
        fields={[
          { key: 'name', label: 'Name', kind: 'text', createOnly: true },
          { key: 'domains', label: 'Domains', kind: 'lines', hint: 'one per line' },
          { key: 'comment', label: 'Comment', kind: 'text', optional: true },
        ]}
      />
      <ResourceSection
        title="Time schedulers"
        noun="time scheduler"
        path="/api/v1/time-schedulers"
        queryKey="time-schedulers"
        headers={['Type', 'Periods', 'Time zone']}
        columns={[(i) => String(i.timeType), (i) => (i.timePeriods as { beginTime: string; endTime: string }[]).map((p) => `${p.beginTime} – ${p.endTime}`).join('; '), (i) => String(i.timezone ?? 'manager default')]}
        fields={[
          { key: 'name', label: 'Name', kind: 'text', createOnly: true },
          { key: 'timeType', label: 'Time type', kind: 'select', options: TIME_TYPES },
          { key: 'timePeriods', label: 'Periods', kind: 'periods', hint: PERIOD_HINT },
          { key: 'timezone', label: 'Time zone', kind: 'text', optional: true, createOnly: true, hint: 'IANA name, e.g. Asia/Seoul; empty: the manager default' },
          { key: 'comment', label: 'Comment', kind: 'text', optional: true },
        ]}
        extra={(items) => items.length > 0 && <Timeline timezone="each scheduler's time zone" rows={items.map((t) => ({ label: t.name, schedule: t as unknown as TimeScheduler }))} />}
      />
      <ResourceSection
        title="Views"
        noun="view"
        path="/api/v1/views"
        queryKey="views"
        idKey="name"
        headers={['Match clients', 'Comment']}
        columns={[(i) => (i.matchClients as string[]).join(', '), (i) => String(i.comment ?? '')]}
        fields={[
          { key: 'name', label: 'Name', kind: 'text', createOnly: true },
          { key: 'matchClients', label: 'Match clients', kind: 'lines', hint: 'one per line: address, CIDR prefix or any' },
          { key: 'comment', label: 'Comment', kind: 'text', optional: true },
        ]}
      />
    </>
  );
}
