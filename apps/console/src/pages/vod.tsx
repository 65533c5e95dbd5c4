import { useQuery } from '@tanstack/react-query';
import { api, type Page, type VodFile, type VodTask, listAll } from '../api';
import { bytes, ErrorText, Loading, Status, when } from '../ui';
import { useNodes } from './nodes';

export function VodPage() {
  const files = useQuery({ queryKey: ['vod-files'], queryFn: () => api<Page<VodFile>>('GET', '/api/v1/vod/files') });
  const tasks = useQuery({ queryKey: ['vod-tasks'], queryFn: () => listAll<VodTask>('/api/v1/vod/tasks') });
  const nodes = useNodes();
  const nameOf = (id: string) => nodes.data?.items.find((n) => n.id === id)?.name ?? id;
  const byRank = [...(files.data?.items ?? [])].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || a.name.localeCompare(b.name));
  return (
    <>
      <h1>VOD</h1>
      <h2>Catalog</h2>
      <ErrorText error={files.error} />
      {!files.data ? (
        !files.error && <Loading what="the catalog" />
      ) : (
        <div className="scroll">
          <table>
            <caption>VOD files</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Rank</th>
                <th scope="col">Size</th>
                <th scope="col">Locations</th>
                <th scope="col">Sources</th>
              </tr>
            </thead>
            <tbody>
              {byRank.map((f) => (
                <tr key={f.name}>
                  <th scope="row">{f.name}</th>
                  <td>{f.rank ?? '—'}</td>
                  <td>{bytes(f.size)}</td>
                  <td>{f.locations.map(nameOf).join(', ') || '—'}</td>
                  <td>{f.sources.map(nameOf).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Distribution tasks</h2>
      <ErrorText error={tasks.error} />
      {!tasks.data ? (
        !tasks.error && <Loading what="tasks" />
      ) : (
        <div className="scroll">
          <table>
            <caption>VOD tasks</caption>
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">To</th>
                <th scope="col">From</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {[...tasks.data.items].reverse().map((t) => (
                <tr key={t.id}>
                  <th scope="row">{t.file}</th>
                  <td>{nameOf(t.nodeId)}</td>
                  <td>{nameOf(t.sourceNodeId)}</td>
                  <td>
                    <Status value={t.status} />
                    {t.error && <span className="error"> {t.error}</span>}
                    {!t.queued && t.removedReason && <span className="muted"> (removed: {t.removedReason})</span>}
                  </td>
                  <td>
                    <progress max={t.size || 1} value={t.bytesDone} aria-label={`${t.file}: ${bytes(t.bytesDone)} of ${bytes(t.size)}`} /> {t.size ? Math.floor((100 * t.bytesDone) / t.size) : 0}%
                  </td>
                  <td>{when(t.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
