import { StrictMode, Suspense, lazy, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, Route, Switch, useLocation } from 'wouter';
import { ApiError, api, type Session } from './api';
import { SessionContext } from './session';
import { useLiveEvents, type LiveState } from './live';
import { ErrorText, Field } from './ui';
import { Loading } from './ui';

// Pages load when first visited: the sign-in form needs none of them.
const OverviewPage = lazy(() => import('./pages/overview').then((m) => ({ default: m.OverviewPage })));
const NodesPage = lazy(() => import('./pages/nodes').then((m) => ({ default: m.NodesPage })));
const DomainsPage = lazy(() => import('./pages/domains').then((m) => ({ default: m.DomainsPage })));
const DomainPage = lazy(() => import('./pages/domains').then((m) => ({ default: m.DomainPage })));
const PipelinesPage = lazy(() => import('./pages/pipelines').then((m) => ({ default: m.PipelinesPage })));
const DnsPage = lazy(() => import('./pages/dns').then((m) => ({ default: m.DnsPage })));
const ForwardingPage = lazy(() => import('./pages/forwarding').then((m) => ({ default: m.ForwardingPage })));
const VodPage = lazy(() => import('./pages/vod').then((m) => ({ default: m.VodPage })));
const AuditPage = lazy(() => import('./pages/audit').then((m) => ({ default: m.AuditPage })));
const TokensPage = lazy(() => import('./pages/tokens').then((m) => ({ default: m.TokensPage })));
import './styles.css';

const NAV = [
  ['/', 'Overview'],
  ['/nodes', 'Nodes'],
  ['/domains', 'Domains'],
  ['/pipelines', 'Pipelines'],
  ['/dns', 'DNS'],
  ['/forwarding', 'Forwarding'],
  ['/vod', 'VOD'],
  ['/audit', 'Audit'],
  ['/tokens', 'Tokens'],
] as const;

function SignIn() {
  const qc = useQueryClient();
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const session = await api<Session>('POST', '/api/v1/session', { token: token.trim() });
      setToken('');
      qc.setQueryData(['session'], session); // the answer is the session: no second request
    } catch (err) {
      setError(err);
    }
  };
  return (
    <main className="signin">
      <h1>ocdn console</h1>
      <form onSubmit={submit}>
        <Field label="API token">{(id) => <input id={id} type="password" autoComplete="off" required value={token} onChange={(e) => setToken(e.target.value)} />}</Field>
        <button type="submit">Sign in</button>
        <ErrorText error={error} />
      </form>
      <p className="hint">Use the bootstrap token the manager printed at its first start, or any token an admin made for you.</p>
    </main>
  );
}

function Shell({ session, live }: { session: Session; live: LiveState }) {
  const qc = useQueryClient();
  const [location] = useLocation();
  const [error, setError] = useState<unknown>(null);
  const signOut = async () => {
    try {
      await api('DELETE', '/api/v1/session');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) return setError(err);
    }
    qc.clear();
    await qc.invalidateQueries({ queryKey: ['session'] });
  };
  const active = (href: string) => (href === '/' ? location === '/' : location.startsWith(href));
  return (
    <>
      <header className="top">
        <span className="brand">ocdn</span>
        <nav aria-label="Main">
          {NAV.map(([href, label]) => (
            <Link key={href} href={href} aria-current={active(href) ? 'page' : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <span className="who">
          <span className={`live ${live}`} role="status" aria-label={`updates ${live}`} title={`updates ${live}`} />
          {session.token.name} ({session.token.role})
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <ErrorText error={error} />
      <main>
        <Suspense fallback={<Loading what="the page" />}>
        <Switch>
          <Route path="/" component={OverviewPage} />
          <Route path="/nodes" component={NodesPage} />
          <Route path="/domains" component={DomainsPage} />
          <Route path="/domains/:domain">{(p) => <DomainPage domain={decodeURIComponent(p.domain)} />}</Route>
          <Route path="/pipelines" component={PipelinesPage} />
          <Route path="/dns" component={DnsPage} />
          <Route path="/forwarding" component={ForwardingPage} />
          <Route path="/vod" component={VodPage} />
          <Route path="/audit" component={AuditPage} />
          <Route path="/tokens" component={TokensPage} />
          <Route>
            <h1>Not found</h1>
            <p>
              No page here. <Link href="/">Overview</Link>
            </p>
          </Route>
        </Switch>
        </Suspense>
      </main>
    </>
  );
}

function App() {
  const qc = useQueryClient();
  const session = useQuery({
    queryKey: ['session'],
    queryFn: async () => {
      try {
        return await api<Session>('GET', '/api/v1/session');
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return null;
        throw err;
      }
    },
    staleTime: 60_000,
  });
  const live = useLiveEvents(qc, Boolean(session.data));
  if (session.isPending) return <p aria-busy="true">Loading…</p>;
  if (session.error) return <ErrorText error={session.error} />;
  if (!session.data) return <SignIn />;
  return (
    <SessionContext.Provider value={session.data}>
      <Shell session={session.data} live={live} />
    </SessionContext.Provider>
  );
}

const client = new QueryClient({
  defaultOptions: {
    queries: {
      // Live events keep lists current; a read again every 30 s covers what events do not carry.
      staleTime: 10_000,
      refetchInterval: 30_000,
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
    },
  },
});
// A session that ended (signed out elsewhere, token revoked) sends the console back to sign-in.
client.getQueryCache().subscribe((e) => {
  const err = e.query.state.error;
  if (err instanceof ApiError && err.status === 401 && e.query.queryKey[0] !== 'session') void client.invalidateQueries({ queryKey: ['session'] });
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={client}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
