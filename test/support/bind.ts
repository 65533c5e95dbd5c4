import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { waitFor } from './wait.ts';

/** A real BIND primary for `zone` on 127.0.0.1:port that takes TSIG-signed updates from one key. */
export interface BindPrimary {
  port: number;
  keyName: string;
  secret: string;
  stop(): Promise<void>;
}

export async function startBindPrimary(namedPath: string, dir: string, zone: string, port: number): Promise<BindPrimary> {
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(32).toString('base64');
  const keyName = 'ocdn-test-key';
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
zone "${zone}" { type primary; file "${dir}/db.zone"; allow-update { key "${keyName}"; }; };
`,
  );
  writeFileSync(join(dir, 'db.zone'), `$TTL 30\n@ IN SOA ns.${zone}. hostmaster.${zone}. 1 300 60 86400 30\n@ IN NS ns.${zone}.\nns IN A 127.0.0.1\n`);
  const child = spawn(namedPath, ['-g', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor('named running', () => {
    if (child.exitCode !== null) throw new Error(`named exited:\n${output}`);
    return /running/.test(output);
  });
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
