import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, type Page, type Role, type Token, listAll } from '../api';
import { useCan } from '../session';
import { Disclosure, ErrorText, Field, Loading, Secret, useAction, when } from '../ui';

function CreateToken() {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [expires, setExpires] = useState('');
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const act = useAction((body: unknown) => api<{ token: Token; secret: string }>('POST', '/api/v1/tokens', body), [['tokens']]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await act.run({ name, role, ...(expires && { expiresAt: new Date(expires).toISOString() }) });
    if (r) {
      setSecret({ name: r.token.name, secret: r.secret });
      setName('');
    }
  };
  return (
    <>
      <form className="form" onSubmit={submit}>
        <Field label="Name">{(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Role">
          {(id) => (
            <select id={id} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              <option>viewer</option>
              <option>operator</option>
              <option>admin</option>
            </select>
          )}
        </Field>
        <Field label="Expires at" hint="optional">{(id) => <input id={id} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />}</Field>
        <button type="submit" disabled={act.busy}>
          Create
        </button>
        <ErrorText error={act.error} />
      </form>
      {secret && <Secret title={`Secret of ${secret.name}`} value={secret.secret} />}
    </>
  );
}

function Revoke({ t }: { t: Token }) {
  const act = useAction(() => api('DELETE', `/api/v1/tokens/${t.id}`), [['tokens']]);
  return (
    <>
      <button type="button" className="danger" aria-label={`Revoke ${t.name}`} onClick={() => window.confirm(`Revoke token ${t.name}? Scripts and consoles using it stop at once.`) && act.run()}>
        Revoke
      </button>
      <ErrorText error={act.error} />
    </>
  );
}

export function TokensPage() {
  const admin = useCan('admin');
  const q = useQuery({ queryKey: ['tokens'], queryFn: () => listAll<Token>('/api/v1/tokens'), enabled: admin });
  if (!admin) return (<><h1>Tokens</h1><p>Only an admin token may see and manage tokens.</p></>);
  return (
    <>
      <h1>Tokens</h1>
      <Disclosure label="Create token">{() => <CreateToken />}</Disclosure>
      <ErrorText error={q.error} />
      {!q.data ? (
        !q.error && <Loading what="tokens" />
      ) : (
        <div className="scroll">
          <table>
            <caption>Tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {q.data.items.map((t) => (
                <tr key={t.id}>
                  <th scope="row">{t.name}</th>
                  <td>{t.role}</td>
                  <td>{when(t.createdAt)}</td>
                  <td>{t.expiresAt ? new Date(t.expiresAt).toLocaleString() : 'never'}</td>
                  <td>{when(t.lastUsedAt)}</td>
                  <td>
                    <Revoke t={t} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
