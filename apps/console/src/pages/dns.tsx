import { useQuery } from '@tanstack/react-query';
import { api, type DnsRecord, type Page, listAll } from '../api';
import { ErrorText, Loading } from '../ui';

export function DnsPage() {
  const q = useQuery({ queryKey: ['dns-records'], queryFn: () => listAll<DnsRecord>('/api/v1/dns/records') });
  return (
    <>
      <h1>DNS</h1>
      <p>What the built-in DNS (or the primary it updates) answers now.</p>
      <ErrorText error={q.error} />
      {!q.data ? (
        !q.error && <Loading what="records" />
      ) : (
        <div className="scroll">
          <table>
            <caption>DNS records</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Value</th>
                <th scope="col">TTL</th>
              </tr>
            </thead>
            <tbody>
              {q.data.items.map((r) => (
                <tr key={`${r.name} ${r.type} ${r.value}`}>
                  <th scope="row">{r.name}</th>
                  <td>{r.type}</td>
                  <td>{r.value}</td>
                  <td>{r.ttl}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
