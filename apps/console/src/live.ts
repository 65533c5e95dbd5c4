// Keeps the query cache current from GET /api/v1/events: each event replaces the item in the lists that hold it,
// so tables and statuses change without a reload. `reset` (or a reconnect the server could not resume) reads
// everything again.
import { useEffect, useState } from 'react';
import type { QueryClient, QueryKey } from '@tanstack/react-query';
import type { Domain, ForwardZone, Node, Page, Pipeline, VodTask } from './api';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

type Keyed = { id?: string; domain?: string | null };
const same = (a: Keyed, b: Keyed) => (a.id !== undefined ? a.id === b.id : a.domain === b.domain);

function upsert<T extends Keyed>(qc: QueryClient, key: QueryKey, item: T, accept: (key: QueryKey, item: T) => boolean = () => true) {
  qc.setQueriesData<Page<T>>({ queryKey: key }, (page) => {
    if (!page) return page;
    const i = page.items.findIndex((x) => same(x, item));
    if (i >= 0) return { ...page, items: page.items.map((x, j) => (j === i ? item : x)) };
    return page;
  });
  // A new item joins the lists whose filter it matches (at the top: lists are newest first or small).
  for (const [k, page] of qc.getQueriesData<Page<T>>({ queryKey: key })) {
    if (page && !page.items.some((x) => same(x, item)) && accept(k, item)) qc.setQueryData(k, { ...page, items: [item, ...page.items] });
  }
}

function remove(qc: QueryClient, key: QueryKey, id: string) {
  qc.setQueriesData<Page<Keyed>>({ queryKey: key }, (page) => (page ? { ...page, items: page.items.filter((x) => (x.id ?? x.domain) !== id) } : page));
}

/** Pipeline lists are keyed ['pipelines', {kind, subject, status}]: a run joins those whose filter it matches. */
const pipelineFits = (key: QueryKey, p: Pipeline) => {
  const f = (key[1] ?? {}) as { kind?: string; subject?: string; status?: string };
  return (!f.kind || f.kind === p.kind) && (!f.subject || f.subject === p.subject) && (!f.status || f.status === p.status);
};

export function useLiveEvents(qc: QueryClient, enabled: boolean): LiveState {
  const [state, setState] = useState<LiveState>('connecting');
  useEffect(() => {
    if (!enabled) return;
    const source = new EventSource('/api/v1/events');
    // Counts and published records are not carried by events: they are read again, at most once a second.
    let overviewTimer: ReturnType<typeof setTimeout> | null = null;
    let recordsChanged = false;
    const overview = () => {
      overviewTimer ??= setTimeout(() => {
        overviewTimer = null;
        void qc.invalidateQueries({ queryKey: ['overview'] });
        if (recordsChanged) void qc.invalidateQueries({ queryKey: ['dns-records'] });
        recordsChanged = false;
      }, 1000);
    };
    const on = <T>(name: string, fn: (data: T) => void) =>
      source.addEventListener(name, (e) => {
        fn(JSON.parse((e as MessageEvent<string>).data) as T);
        overview();
      });
    on<Node>('node', (n) => {
      recordsChanged = true; // a node's fault or recovery changes what is published
      upsert(qc, ['nodes'], n);
      qc.setQueryData(['node', n.id], n);
    });
    on<Domain>('domain', (d) => {
      recordsChanged = true;
      upsert(qc, ['domains'], d);
      qc.setQueryData(['domain', d.domain], d);
    });
    on<Pipeline>('pipeline', (p) => {
      upsert(qc, ['pipelines'], p, pipelineFits);
      qc.setQueryData(['pipeline', p.id], p);
    });
    on<VodTask>('task', (t) => upsert(qc, ['vod-tasks'], t));
    on<ForwardZone>('zone', (z) => upsert(qc, ['zones', z.view], z));
    on<{ kind: string; id: string }>('removed', ({ kind, id }) => {
      if (kind === 'zone') {
        const [view, zone] = id.split('/');
        remove(qc, ['zones', view], zone ?? id);
      } else if (kind === 'task') remove(qc, ['vod-tasks'], id);
      else void qc.invalidateQueries({ queryKey: [`${kind}s`] });
    });
    source.addEventListener('reset', () => void qc.invalidateQueries());
    source.onopen = () => setState('live');
    source.onerror = () => setState('reconnecting');
    return () => {
      source.close();
      if (overviewTimer) clearTimeout(overviewTimer);
    };
  }, [qc, enabled]);
  return state;
}
