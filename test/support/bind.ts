import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_HINT, startResolverDaemon } from './resolvers.ts';

/** A real BIND primary for `zone` on 127.0.0.1:port that takes TSIG-signed updates from one key. */
export interface BindPrimary {
  port: number;
  keyName: string;
  secret: string;
  stop(): Promise<void>;
}

/**
 * `recursion no` does not keep named from priming its built-in root hints at start: the primary gets loopback-only
 * hints of its own, like every resolver a test starts.
 */
export async function startBindPrimary(dir: string, zone: string, port: number): Promise<BindPrimary> {
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(32).toString('base64');
  const keyName = 'ocdn-test-key';
  writeFileSync(join(dir, 'root.hint'), ROOT_HINT);
  writeFileSync(
    join(dir, 'named.conf'),
    `options {
  directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  pid-file "${dir}/named.pid";
  recursion no;
  dnssec-validation no;
};
key "${keyName}" { algorithm hmac-sha256; secret "${secret}"; };
controls { };
zone "." { type hint; file "${dir}/root.hint"; };
zone "${zone}" { type primary; file "${dir}/db.zone"; allow-update { key "${keyName}"; }; };
`,
  );
  writeFileSync(join(dir, 'db.zone'), `$TTL 30\n@ IN SOA ns.${zone}. hostmaster.${zone}. 1 300 60 86400 30\n@ IN NS ns.${zone}.\nns IN A 127.0.0.1\n`);
  // "running" alone ends named's start ("running as: …" opens it).
  const { child } = await startResolverDaemon('named', join(dir, 'named.conf'), /^\S+ \S+ running$/m);
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  return {
    port,
    keyName,
    secret,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
