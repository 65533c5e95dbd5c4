// Small building blocks shared by the pages: errors, statuses, labelled fields, actions with their own error.
import { useId, useState, type ReactNode } from 'react';
import { useQueryClient, type QueryKey } from '@tanstack/react-query';
import { ApiError } from './api';

export function ErrorText({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof ApiError && error.details ? detailsText(error.details) : '';
  return (
    <p role="alert" className="error">
      {message}
      {details && <span className="details"> — {details}</span>}
    </p>
  );
}

function detailsText(details: unknown): string {
  if (Array.isArray(details)) return details.map((d: { field?: string; message?: string }) => (d.field ? `${d.field}: ${d.message ?? ''}` : JSON.stringify(d))).join('; ');
  if (details && typeof details === 'object') return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('; ');
  return '';
}

/** A status in the API's own words, coloured by what it means. */
export function Status({ value }: { value: string }) {
  const tone = /^(normal|complete|succeeded|done|live|true|2\d\d)$/.test(value) ? 'good' : /^(fault|failed|delete|[45]\d\d)$/.test(value) ? 'bad' : /^(running|working|deleting|pending|new|ready)$/.test(value) ? 'busy' : 'plain';
  return <span className={`status ${tone}`}>{value}</span>;
}

export function Field({ label, children, hint }: { label: string; hint?: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {hint && <small>{hint}</small>}
    </div>
  );
}

/** Runs an API call from a button or form, shows its error next to it, and refreshes the given queries. */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>, refresh: QueryKey[] = []) {
  const qc = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (...args: A): Promise<R | undefined> => {
    setBusy(true);
    setError(null);
    try {
      const r = await fn(...args);
      await Promise.all(refresh.map((queryKey) => qc.invalidateQueries({ queryKey })));
      return r;
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { run, error, busy, clear: () => setError(null) };
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const ago = s < 0 ? 'just now' : s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : s < 86400 ? `${Math.floor(s / 3600)} h ago` : d.toISOString().slice(0, 10);
  return ago;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u ? 1 : 0)} ${units[u]}`;
}

export function Loading({ what }: { what: string }) {
  return <p aria-busy="true">Loading {what}…</p>;
}

/** A panel with a heading, opened by a button (forms: Register node, Add domain, …). */
export function Disclosure({ label, children }: { label: string; children: (close: () => void) => ReactNode }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  return (
    <div className="disclosure">
      <button type="button" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)}>
        {label}
      </button>
      {open && (
        <section id={id} className="panel" aria-label={label}>
          {children(() => setOpen(false))}
        </section>
      )}
    </div>
  );
}

/** Shown once: a secret the API will never show again. */
export function Secret({ title, value, children }: { title: string; value: string; children?: ReactNode }) {
  return (
    <div className="secret" role="status">
      <strong>{title}</strong> (shown only now — copy it):
      <pre>
        <code>{value}</code>
      </pre>
      {children}
    </div>
  );
}
