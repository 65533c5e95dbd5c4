import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { waitFor } from './wait.ts';

/** Root hints that point at an address where nothing listens: a resolver that falls back to them asks nobody. */
export const ROOT_HINT = '.\t3600000\tNS\ta.root.invalid.\na.root.invalid.\t3600000\tA\t127.0.7.99\n';

/**
 * An upstream resolver stand-in: answers every A question with one address (TTL one hour, so that a stale cache
 * would show) over UDP and TCP, and counts the questions.
 */
export async function startUpstream(host: string, port: number, answer: string): Promise<{ queries: number; stop(): Promise<void> }> {
  const state = { queries: 0 };
  const reply = (msg: Buffer): Buffer => {
    const q = dnsPacket.decode(msg);
    state.queries++;
    const question = q.questions?.[0];
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | (q.flags! & dnsPacket.RECURSION_DESIRED),
      questions: q.questions,
      answers: question && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 3600, data: answer }] : [],
    });
  };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => udp.send(reply(msg), rinfo.port, rinfo.address));
  await new Promise<void>((r) => udp.bind(port, host, () => r()));
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => sock.destroy());
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const out = reply(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        const framed = Buffer.alloc(2 + out.length);
        framed.writeUInt16BE(out.length, 0);
        out.copy(framed, 2);
        sock.write(framed);
      }
    });
  });
  await new Promise<void>((r) => tcp.listen(port, host, () => r()));
  return Object.assign(state, {
    async stop() {
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  });
}

export interface Resolver {
  /** Agent environment that drives this resolver. */
  agentEnv: Record<string, string>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Refuses a resolver configuration unless every place it takes root hints from is a file whose addresses are all
 * loopback: named primes its built-in root hints at start even with recursion off, so a config without hints of its
 * own would send packets to the real root servers. named: one `zone "." { type hint; … }` at top level or in each
 * view; Unbound: `root-hints:`.
 */
export function assertLoopbackRootHints(program: 'named' | 'unbound', confPath: string): void {
  const conf = readFileSync(confPath, 'utf8');
  const files =
    program === 'named'
      ? [...conf.matchAll(/zone\s+"\."\s*(?:IN\s*)?\{\s*type\s+hint;\s*file\s+"([^"]+)";\s*\}/g)].map((m) => m[1]!)
      : [...conf.matchAll(/^\s*root-hints:\s*"?([^"\s]+)"?/gm)].map((m) => m[1]!);
  const views = program === 'named' ? [...conf.matchAll(/^\s*view\s+"/gm)].length : 0;
  const need = Math.max(1, views);
  if (files.length < need) throw new Error(`${confPath}: ${program} needs loopback-only root hints (${need} place(s), found ${files.length}): without them it asks the real root servers`);
  for (const f of files) {
    const addresses = [...readFileSync(f, 'utf8').matchAll(/\s(?:A|AAAA)\s+(\S+)/g)].map((m) => m[1]!);
    const outside = addresses.filter((a) => !/^127\./.test(a) && a !== '::1');
    if (addresses.length === 0 || outside.length) throw new Error(`${f}: root hints must name loopback addresses only (found ${outside.join(', ') || 'none'})`);
  }
}

/**
 * Starts named or Unbound in the foreground and waits until it is ready. The only way tests and benchmarks start a
 * resolver: its configuration is checked for loopback-only root hints first.
 */
export function startResolverDaemon(program: 'named' | 'unbound', confPath: string, ready: RegExp | (() => Promise<boolean>)): Promise<{ child: ChildProcess; output: () => string }> {
  assertLoopbackRootHints(program, confPath);
  return daemon(program, [program === 'named' ? '-g' : '-d', '-c', confPath], ready);
}

function daemon(cmd: string, args: string[], ready: RegExp | (() => Promise<boolean>)): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-30_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return waitFor(
    `${cmd} running`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${cmd} exited:\n${out}`);
      return typeof ready === 'function' ? ready() : ready.test(out);
    },
    { timeoutMs: 20_000 },
  ).then(() => ({ child, output: () => out }));
}

const stopper = (child: ChildProcess) => async () => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
};

/**
 * A real BIND resolver on `ip:port` with one view per entry of `views` (match-clients as given), each with the
 * root hints above and the agent's include file; rndc on 127.0.0.1:rndcPort with its own key. With `views` empty,
 * named.conf declares no view at all (the most common setup): the root hints and the agent's `default` include sit
 * at top level, and BIND's implicit view is `_default`.
 */
export async function startBind(dir: string, ip: string, port: number, rndcPort: number, views: { name: string; matchClients: string[] }[]): Promise<Resolver> {
  const inc = join(dir, 'ocdn');
  mkdirSync(inc, { recursive: true });
  const secret = randomBytes(32).toString('base64');
  writeFileSync(join(dir, 'root.hint'), ROOT_HINT);
  for (const v of views.length ? views : [{ name: 'default' }]) writeFileSync(join(inc, `${v.name}.forward.conf`), '');
  const hints = `zone "." { type hint; file "${dir}/root.hint"; };`;
  const body =
    views.length === 0
      ? `${hints}\ninclude "${inc}/default.forward.conf";`
      : views.map((v) => `view "${v.name}" {\n  match-clients { ${v.matchClients.join('; ')}; };\n  ${hints}\n  include "${inc}/${v.name}.forward.conf";\n};`).join('\n');
  const conf = join(dir, 'named.conf');
  writeFileSync(
    conf,
    `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  listen-on port ${port} { ${ip}; };
  listen-on-v6 { none; };
  dnssec-validation no;
  recursion yes;
  allow-query { any; };
  allow-recursion { any; };
  notify no;
};
key "rndc-key" { algorithm hmac-sha256; secret "${secret}"; };
controls { inet 127.0.0.1 port ${rndcPort} allow { 127.0.0.1; } keys { "rndc-key"; }; };
${body}
`,
  );
  writeFileSync(join(dir, 'rndc.conf'), `key "rndc-key" { algorithm hmac-sha256; secret "${secret}"; };\noptions { default-key "rndc-key"; default-server 127.0.0.1; default-port ${rndcPort}; };\n`);
  const check = spawnSync('named-checkconf', [conf], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`test named.conf is invalid: ${check.stdout}${check.stderr}`);
  // "running" alone ends named's start; "running as: …" opens it, long before named is ready.
  const { child, output } = await startResolverDaemon('named', conf, /^\S+ \S+ running$/m);
  // named runs on even when it could not open its control channel (the port taken meanwhile): say so here, not as
  // a puzzling "connection refused" from rndc later.
  if (!output().includes(`command channel listening on 127.0.0.1#${rndcPort}`)) {
    await stopper(child)();
    throw new Error(`named could not open its control channel on 127.0.0.1:${rndcPort}:\n${output().slice(-2000)}`);
  }
  return {
    agentEnv: {
      OCDN_DNS_DRIVER: 'bind',
      OCDN_BIND_INCLUDE_DIR: inc,
      OCDN_BIND_CHECKCONF_CMD: `named-checkconf ${conf}`,
      OCDN_RNDC_CMD: `rndc -c ${join(dir, 'rndc.conf')}`,
    },
    output,
    stop: stopper(child),
  };
}

/** A real Unbound resolver on `ip:port`, its remote control on 127.0.0.1:controlPort, the agent's include last. */
export async function startUnbound(dir: string, ip: string, port: number, controlPort: number): Promise<Resolver> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'root.hint'), ROOT_HINT);
  const include = join(dir, 'ocdn-forward.conf');
  writeFileSync(include, '');
  const conf = join(dir, 'unbound.conf');
  writeFileSync(
    conf,
    `server:
  interface: ${ip}@${port}
  port: ${port}
  do-ip6: no
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  root-hints: "${dir}/root.hint"
  module-config: "iterator"
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
remote-control:
  control-enable: yes
  control-interface: 127.0.0.1
  control-port: ${controlPort}
  control-use-cert: no
include: "${include}"
`,
  );
  const check = spawnSync('unbound-checkconf', [conf], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`test unbound.conf is invalid: ${check.stdout}${check.stderr}`);
  const { child, output } = await startResolverDaemon('unbound', conf, async () => spawnSync('unbound-control', ['-c', conf, 'status'], { encoding: 'utf8' }).status === 0);
  return {
    agentEnv: {
      OCDN_DNS_DRIVER: 'unbound',
      OCDN_UNBOUND_INCLUDE_FILE: include,
      OCDN_UNBOUND_CHECKCONF_CMD: `unbound-checkconf ${conf}`,
      OCDN_UNBOUND_CONTROL_CMD: `unbound-control -c ${conf}`,
    },
    output,
    stop: stopper(child),
  };
}

/** `dig +short` for an A record, from an optional source address: the addresses, or [] (no answer, SERVFAIL). */
export function digA(server: string, port: number, name: string, source?: string): string[] {
  const args = ['+short', '+time=2', '+tries=1', `@${server}`, '-p', String(port), ...(source ? ['-b', source] : []), name, 'A'];
  const r = spawnSync('dig', args, { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l))
    .sort();
}

/** Adds a /32 to lo (BIND listens only on addresses an interface holds); returns the undo. */
export function addLoopbackAddress(ip: string): () => void {
  const r = spawnSync('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo'], { encoding: 'utf8' });
  if (r.status !== 0 && !/File exists/.test(r.stderr)) throw new Error(`ip addr add ${ip}: ${r.stderr.trim()}`);
  const added = r.status === 0;
  return () => {
    if (added) spawnSync('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']);
  };
}
