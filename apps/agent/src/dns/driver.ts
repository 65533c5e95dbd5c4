import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DnsApplyRequest, DnsApplyResponse, DnsViewState } from '@ocdn/protocol';
import { confinedPath, writeFileAtomic } from '../cdn/files.ts';
import type { Logger } from '../log.ts';
import { runCommand } from '../exec.ts';
import { AgentRpcError } from '../rpc.ts';
import { changedZones, renderBindView, renderUnbound } from './render.ts';

export interface DnsDriverOptions {
  driver: 'bind' | 'unbound';
  bindIncludeDir: string;
  bindCheckconfCmd: string[];
  rndcCmd: string[];
  unboundIncludeFile: string;
  unboundCheckconfCmd: string[];
  unboundControlCmd: string[];
  log: Logger;
}

/** Changed zones of one view flushed one by one; more than this and the view's cache is flushed whole. */
const FLUSH_ZONES_MAX = 20;

interface State {
  hash: string;
  views: DnsViewState[];
}

/**
 * The dns role: forward zones for BIND (one include file per view) or Unbound (one include file). Every apply is
 * all-or-nothing: files are written atomically, the whole configuration is validated, and on any failure the
 * previous files come back, so the resolver keeps its last good configuration. Zones whose forwarding changed are
 * flushed from the cache.
 */
export class DnsDriver {
  private chain: Promise<unknown> = Promise.resolve();
  private state: State | null = null;
  /** BIND's name for the agent's view `default`: `default` (named.conf has views) or `_default` (it has none). */
  private bindDefaultView: 'default' | '_default' | null = null;

  constructor(private readonly opts: DnsDriverOptions) {}

  private get statePath(): string {
    return this.opts.driver === 'bind' ? join(this.opts.bindIncludeDir, '.ocdn-state.json') : `${this.opts.unboundIncludeFile}.ocdn-state.json`;
  }

  /** What the node holds (reported in the hello, so that the manager sends only what is missing). */
  async held(): Promise<{ hash: string } | null> {
    if (!this.state) this.state = await readFile(this.statePath, 'utf8').then((t) => JSON.parse(t) as State, () => null);
    return this.state ? { hash: this.state.hash } : null;
  }

  apply(req: DnsApplyRequest): Promise<DnsApplyResponse> {
    const run = this.chain.catch(() => {}).then(() => this.applyNow(req));
    this.chain = run;
    return run;
  }

  private async applyNow(req: DnsApplyRequest): Promise<DnsApplyResponse> {
    await this.held();
    const before = new Map((this.state?.views ?? []).map((v) => [v.name, v]));
    const after = new Map(req.views.map((v) => [v.name, v]));
    const warnings: string[] = [];
    // The files this state needs: path → content.
    const files = new Map<string, string>();
    if (this.opts.driver === 'bind') {
      await mkdir(this.opts.bindIncludeDir, { recursive: true });
      for (const v of req.views) files.set(confinedPath(this.opts.bindIncludeDir, `${v.name}.forward.conf`), renderBindView(v));
      // A view that went away keeps an empty file: named.conf may still include it.
      for (const name of before.keys()) {
        if (!after.has(name)) files.set(confinedPath(this.opts.bindIncludeDir, `${name}.forward.conf`), renderBindView({ name, matchClients: [], zones: [] }));
      }
    } else {
      await mkdir(dirname(this.opts.unboundIncludeFile), { recursive: true });
      files.set(this.opts.unboundIncludeFile, renderUnbound(after.get('default')));
      for (const v of req.views) {
        if (v.name !== 'default' && v.zones.length) warnings.push(`unbound has no per-view forwarders: the ${v.zones.length} zone(s) of view ${v.name} are not applied (only view default is)`);
      }
    }
    const previous = new Map<string, string | null>();
    for (const [path, content] of files) {
      const cur = await readFile(path, 'utf8').catch(() => null);
      if (cur !== content) previous.set(path, cur);
    }
    const changedViews = this.opts.driver === 'bind' ? [...new Set([...before.keys(), ...after.keys()])].filter((n) => changedZones(before.get(n), after.get(n)).length || !before.has(n) !== !after.has(n)) : [];
    const flush = [...new Set([...before.keys(), ...after.keys()])].flatMap((view) => changedZones(before.get(view), after.get(view)).map((zone) => ({ view, zone })));

    if (previous.size > 0) {
      for (const path of previous.keys()) await writeFileAtomic(path, files.get(path)!);
      const restore = async () => {
        for (const [path, content] of previous) {
          if (content === null) await rm(path, { force: true });
          else await writeFileAtomic(path, content);
        }
      };
      const check = await this.run(this.opts.driver === 'bind' ? this.opts.bindCheckconfCmd : this.opts.unboundCheckconfCmd);
      if (!check.ok) {
        await restore();
        throw new AgentRpcError('command_failed', `configuration refused, previous one kept: ${check.output}`);
      }
      const reload = await this.run(this.opts.driver === 'bind' ? [...this.opts.rndcCmd, 'reconfig'] : [...this.opts.unboundControlCmd, 'reload']);
      if (!reload.ok) {
        await restore();
        throw new AgentRpcError('command_failed', `reload failed, previous configuration kept: ${reload.output}`);
      }
    }
    const flushed: string[] = [];
    const failed: string[] = [];
    if (this.opts.driver === 'bind') {
      // One flushtree per changed zone; past FLUSH_ZONES_MAX in a view, one flush of the view's whole cache.
      const byView = new Map<string, string[]>();
      for (const f of flush) byView.set(f.view, [...(byView.get(f.view) ?? []), f.zone]);
      for (const [view, zones] of byView) {
        const cmds = zones.length > FLUSH_ZONES_MAX ? [['flush']] : zones.map((z) => ['flushtree', z]);
        let served = true;
        for (const cmd of cmds) {
          const r = await this.flushBind(cmd, view);
          if (r.error) failed.push(r.error);
          if (r.warning) {
            warnings.push(r.warning);
            served = false;
            break;
          }
        }
        if (served) flushed.push(...zones.map((z) => `${view}/${z}`));
      }
    } else if (previous.size > 0) {
      // `unbound-control reload` starts with an empty cache: every changed zone is flushed with it.
      flushed.push(...flush.filter((f) => f.view === 'default').map((f) => `${f.view}/${f.zone}`));
    }
    if (failed.length) {
      // The configuration stays applied; the state is not recorded, so the next apply (the manager retries a failed
      // one) flushes the same zones again.
      this.opts.log.error({ hash: req.hash.slice(0, 12), failed }, 'forward zones applied, but the cache flush failed');
      throw new AgentRpcError('command_failed', `configuration applied, but the cache flush failed (stale answers possible until it succeeds): ${failed.join('; ')}`);
    }
    this.state = { hash: req.hash, views: req.views };
    await writeFileAtomic(this.statePath, JSON.stringify(this.state));
    this.opts.log.info({ hash: req.hash.slice(0, 12), files: previous.size, flushed: flushed.length }, 'forward zones applied');
    return { hash: req.hash, changed: this.opts.driver === 'bind' ? changedViews : previous.size ? ['default'] : [], flushed, warnings, driver: this.opts.driver };
  }

  /**
   * Flushes the cache of ocdn's view `view` in BIND. ocdn's view `default` is BIND's view `default` when named.conf
   * declares views, and BIND's implicit view `_default` when it declares none (the include then sits at top level);
   * which one is learnt from the first flush that works. A view BIND does not have is not an error of this apply
   * (its include file is simply not used): that is a warning. Any other failed flush is an error.
   */
  private async flushBind(cmd: string[], view: string): Promise<{ error?: string; warning?: string }> {
    const candidates = view !== 'default' ? [view] : this.bindDefaultView === '_default' ? ['_default', 'default'] : ['default', '_default'];
    for (const name of candidates) {
      const r = await this.run([...this.opts.rndcCmd, ...cmd, name]);
      if (r.ok) {
        if (view === 'default') this.bindDefaultView = name as 'default' | '_default';
        return {};
      }
      if (await this.bindHasView(name)) return { error: `rndc ${[...cmd, name].join(' ')}: ${r.output.trim() || 'failed'}` };
    }
    return { warning: `BIND has no view "${view}"${view === 'default' ? ' (nor the implicit "_default")' : ''}: include ${view}.forward.conf inside that view of named.conf to serve its zones` };
  }

  /** Whether BIND has a view of this name: flushing one name that is never cached fails only for a missing view. */
  private async bindHasView(name: string): Promise<boolean> {
    return (await this.run([...this.opts.rndcCmd, 'flushname', 'ocdn-view-probe.invalid', name])).ok;
  }

  /** 20 s: a resolver that stops answering its control channel fails this apply (files restored); the next retries. */
  private run(cmd: string[]): Promise<{ ok: boolean; output: string }> {
    return runCommand(cmd, 20_000);
  }
}
