import type { Dispatcher } from 'undici';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Bottleneck from 'bottleneck';
import { AgentVodTasksResponse, type AgentVodTask, type VodTaskPatch } from '@ocdn/protocol';
import type { Logger } from '../log.ts';
import { discardPartial, downloadFile, partialBytes, TokenBucket } from './download.ts';
import type { FileStore } from './store.ts';

export interface VodWorkerOptions {
  store: FileStore;
  /** The manager replica to call (the one the agent's link holds). */
  managerUrl: () => string;
  /** HTTP client for the manager (trusting OCDN_MANAGER_CA), made on first use. */
  managerDispatcher?: (() => Promise<Dispatcher>) | undefined;
  /** PEM trusted for sources that serve TLS. */
  peerCa?: string | undefined;
  token: string;
  log: Logger;
  /** How often the worker asks for its tasks when nobody tells it that they changed. */
  pollMs: number;
  /** Downloads at once from one source server. */
  perSourceConcurrency: number;
  /** Cap on the bytes per second of all downloads together; 0 = none. */
  bandwidthBps: number;
  /** Flush each file to disk before it takes its name (see downloadFile). */
  durable?: boolean;
}

class TaskGone extends Error {}

/** How long a partial download without a task is kept before it is deleted. */
export const ORPHAN_GRACE_MS = 10 * 60_000;

/**
 * The VOD server's worker (the seed's cfw): checks its disk, takes its tasks from the manager, marks each working,
 * downloads the file from the source through the signed URL (resuming what an earlier attempt left), reports
 * progress, and marks the task done — or failed with the reason, leaving no partial file behind.
 */
export class VodWorker {
  private timer: NodeJS.Timeout | undefined;
  private readonly active = new Map<string, AbortController>();
  private readonly activeFiles = new Set<string>();
  private readonly limiters: Bottleneck.Group;
  private readonly bucket: TokenBucket | undefined;
  private polling: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: VodWorkerOptions) {
    this.limiters = new Bottleneck.Group({ maxConcurrent: opts.perSourceConcurrency });
    this.bucket = opts.bandwidthBps > 0 ? new TokenBucket(opts.bandwidthBps) : undefined;
  }

  start(): void {
    this.stopped = false;
    this.kick();
    this.timer = setInterval(() => this.kick(), this.opts.pollMs);
    this.timer.unref();
  }

  /** Stops taking tasks and aborts downloads; their partial files stay for the next start to resume. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const ac of this.active.values()) ac.abort(new Error('agent stopping'));
    await this.polling?.catch(() => {});
  }

  /** Looks at the tasks now (the manager said they changed, or the poll came round). */
  kick(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    this.polling = this.poll()
      .catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'could not fetch VOD tasks'))
      .finally(() => {
        this.polling = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async api(path: string, init: RequestInit = {}): Promise<Response> {
    // undici is loaded when the vod role first calls the manager, not by every agent at start (memory).
    const { fetch } = await import('undici');
    const dispatcher = await this.opts.managerDispatcher?.();
    return fetch(new URL(path, this.opts.managerUrl()), {
      ...init,
      ...(dispatcher ? { dispatcher } : {}),
      headers: { authorization: `Bearer ${this.opts.token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      signal: AbortSignal.timeout(15_000),
    });
  }

  private async poll(): Promise<void> {
    const res = await this.api('/api/v1/agent/vod/tasks');
    if (!res.ok) throw new Error(`manager answered GET tasks with HTTP ${res.status}`);
    const { items } = AgentVodTasksResponse.parse(await res.json());
    await this.removeOrphans(new Set(items.map((t) => t.file)));
    const open = items.filter((t) => (t.status === 'ready' || t.status === 'working') && !this.active.has(t.id));
    if (open.length === 0) return;
    // The seed: look at the disk first; a task that cannot fit is handed back with the reason.
    let free = (await this.opts.store.df()).free;
    for (const task of open) {
      const need = task.size - (await partialBytes(this.opts.store.dir, task.file));
      if (need > free) {
        await this.patch(task, { status: 'failed', error: `not enough disk: need ${need} bytes, ${free} free` }).catch(() => {});
        continue;
      }
      free -= need;
      const ac = new AbortController();
      this.active.set(task.id, ac);
      this.activeFiles.add(task.file);
      void this.limiters
        .key(task.sourceNodeId)
        .schedule(() => this.run(task, ac.signal))
        .finally(() => {
          this.active.delete(task.id);
          this.activeFiles.delete(task.file);
        });
    }
  }

  /**
   * Partial downloads whose task is gone (taken out of the queue while this agent was down) are deleted once they
   * have been left untouched for ORPHAN_GRACE_MS: a task for the same file that comes back meanwhile resumes them.
   */
  private async removeOrphans(queued: Set<string>): Promise<void> {
    const names = await readdir(this.opts.store.dir).catch(() => [] as string[]);
    for (const n of names) {
      const m = /^\.(.+)\.part(?:\.json)?$/.exec(n);
      if (!m || queued.has(m[1]!) || this.activeFiles.has(m[1]!)) continue;
      const path = join(this.opts.store.dir, n);
      const st = await stat(path).catch(() => null);
      if (!st || Date.now() - st.mtimeMs < ORPHAN_GRACE_MS) continue;
      await rm(path, { force: true });
      this.opts.log.info({ file: m[1] }, 'removed a partial download whose task left the queue');
    }
  }

  private async patch(task: AgentVodTask, body: VodTaskPatch): Promise<void> {
    const res = await this.api(`/api/v1/agent/vod/tasks/${encodeURIComponent(task.id)}`, { method: 'PATCH', body: JSON.stringify(body) });
    if (res.status === 409 || res.status === 404) {
      const text = await res.text();
      throw new TaskGone(`task ${task.id} can no longer be worked on: ${text.slice(0, 300)}`);
    }
    if (!res.ok) throw new Error(`manager answered PATCH task with HTTP ${res.status}`);
  }

  private async run(task: AgentVodTask, signal: AbortSignal): Promise<void> {
    const log = this.opts.log.child({ taskId: task.id, file: task.file });
    const dir = this.opts.store.dir;
    const t0 = performance.now();
    // Aborted when the manager no longer knows the task (removed from the queue): stop and clean up.
    const withdrawn = new AbortController();
    try {
      if (signal.aborted) return;
      if (await this.opts.store.statFile(task.file)) {
        // Already here (an earlier attempt finished but could not report): report it.
        await this.patch(task, { status: 'done', bytesDone: task.size });
        return;
      }
      await this.patch(task, { status: 'working', bytesDone: await partialBytes(dir, task.file) });
      const both = AbortSignal.any([signal, withdrawn.signal]);
      const result = await downloadFile({
        url: task.sourceUrl,
        dir,
        name: task.file,
        signal: both,
        bucket: this.bucket,
        durable: this.opts.durable,
        ca: this.opts.peerCa,
        onProgress: (bytes) => {
          this.patch(task, { status: 'working', bytesDone: bytes }).catch((err: unknown) => {
            if (err instanceof TaskGone) withdrawn.abort(err);
          });
        },
      });
      await this.patch(task, { status: 'done', bytesDone: result.bytes });
      const ms = performance.now() - t0;
      log.info({ bytes: result.bytes, resumedFrom: result.resumedFrom, ms: Math.round(ms), mbps: Math.round((result.bytes - result.resumedFrom) / 1e3 / ms) }, 'file downloaded');
    } catch (err) {
      if (signal.aborted) {
        log.info({ reason: String((signal.reason as Error)?.message ?? signal.reason) }, 'download interrupted; partial file kept for resume');
        return;
      }
      const gone = err instanceof TaskGone || withdrawn.signal.aborted;
      await discardPartial(dir, task.file).catch(() => {});
      const message = (err as Error).message;
      log.warn({ err: message }, gone ? 'task withdrawn by the manager; partial file removed' : 'download failed');
      if (!gone) await this.patch(task, { status: 'failed', error: message }).catch(() => {});
    }
  }
}
