import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, NODE_ROLES, type Node, type NodeRole, type Page, type Pipeline, listAll } from '../api';
import { useCan } from '../session';
import { Disclosure, ErrorText, Field, Loading, Secret, Status, useAction, when } from '../ui';

export const useNodes = () => useQuery({ queryKey: ['nodes'], queryFn: () => listAll<Node>('/api/v1/nodes') });

/** The command an operator pastes on the new node (the agent's environment, API.md; the bundle `npm run build` makes). */
function agentCommand(token: string, node: Node): string {
  return `OCDN_MANAGER_URL=${window.location.origin} OCDN_NODE_TOKEN=${token} OCDN_AGENT_HOST=${node.ip} OCDN_AGENT_PORT=${node.agentPort} node apps/agent/dist/ocdn-agent.cjs`;
}

function Register() {
  const [name, setName] = useState('');
  const [ip, setIp] = useState('');
  const [roles, setRoles] = useState<NodeRole[]>(['cdn']);
  const [port, setPort] = useState('8081');
  const [created, setCreated] = useState<{ node: Node; token: string } | null>(null);
  const act = useAction((body: unknown) => api<{ node: Node; token: string; pipeline: Pipeline }>('POST', '/api/v1/nodes', body), [['nodes']]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await act.run({ name, ip, roles, agentPort: port === '' ? undefined : Number(port) });
    if (r) {
      setCreated(r);
      setName('');
      setIp('');
    }
  };
  return (
    <>
      <form onSubmit={submit} className="form">
        <Field label="Name">{(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="IP">{(id) => <input id={id} required value={ip} onChange={(e) => setIp(e.target.value)} placeholder="192.0.2.10" />}</Field>
        <fieldset className="field">
          <legend>Roles</legend>
          {NODE_ROLES.map((r) => (
            <label key={r} className="check">
              <input type="checkbox" checked={roles.includes(r)} onChange={(e) => setRoles(e.target.checked ? [...roles, r] : roles.filter((x) => x !== r))} /> {r}
            </label>
          ))}
        </fieldset>
        <Field label="Agent port">{(id) => <input id={id} inputMode="numeric" value={port} onChange={(e) => setPort(e.target.value)} />}</Field>
        <button type="submit" disabled={act.busy}>
          Register
        </button>
        <ErrorText error={act.error} />
      </form>
      {created && (
        <Secret title={`Node token of ${created.node.name}`} value={created.token}>
          <p>Start the agent on the node with (see the README for the nginx, BIND or Unbound settings of its roles):</p>
          <pre>
            <code>{agentCommand(created.token, created.node)}</code>
          </pre>
        </Secret>
      )}
    </>
  );
}

function NodeActions({ node }: { node: Node }) {
  const [token, setToken] = useState<string | null>(null);
  const rotate = useAction(() => api<{ token: string }>('POST', `/api/v1/nodes/${node.id}/token`), [['nodes']]);
  const remove = useAction(() => api('DELETE', `/api/v1/nodes/${node.id}`), [['nodes']]);
  if (node.status === 'delete' || node.status === 'deleting') return null;
  return (
    <div className="actions">
      <button type="button" onClick={async () => setToken((await rotate.run())?.token ?? null)} aria-label={`Rotate token of ${node.name}`}>
        Rotate token
      </button>
      <button type="button" className="danger" aria-label={`Delete ${node.name}`} onClick={() => window.confirm(`Delete node ${node.name} (${node.ip})? Its domains move off it first.`) && remove.run()}>
        Delete
      </button>
      <ErrorText error={rotate.error ?? remove.error} />
      {token && <Secret title={`New token of ${node.name}`} value={token}>
        <p>Put it in the agent's environment (OCDN_NODE_TOKEN) and restart the agent; the old token works until then.</p>
      </Secret>}
    </div>
  );
}

export function NodesPage() {
  const q = useNodes();
  const admin = useCan('admin');
  return (
    <>
      <h1>Nodes</h1>
      {admin && <Disclosure label="Register node">{() => <Register />}</Disclosure>}
      <ErrorText error={q.error} />
      {!q.data ? (
        !q.error && <Loading what="nodes" />
      ) : (
        <div className="scroll">
          <table>
            <caption>Nodes</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">IP</th>
                <th scope="col">Status</th>
                <th scope="col">Connected</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Agent version</th>
                <th scope="col">Roles</th>
                {admin && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {q.data.items.map((n) => (
                <tr key={n.id}>
                  <th scope="row">{n.name}</th>
                  <td>{n.ip}</td>
                  <td>
                    <Status value={n.status} />
                  </td>
                  <td>{n.connected ? 'yes' : 'no'}</td>
                  <td>{when(n.lastHeartbeatAt)}</td>
                  <td>{n.agentVersion ?? '—'}</td>
                  <td>{n.roles.join(', ')}</td>
                  {admin && (
                    <td>
                      <NodeActions node={n} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
