import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** A real nginx master with its own prefix directory, including the agent's conf directory in `http { }`. */
export interface NginxInstance {
  prefix: string;
  confDir: string;
  cacheDir: string;
  testCmd: string[];
  reloadCmd: string[];
  /** Agent environment that drives this nginx. */
  agentEnv: Record<string, string>;
  stop(): void;
}

export function startNginx(nginxPath: string, prefix: string): NginxInstance {
  const confDir = join(prefix, 'conf.d', 'ocdn');
  const cacheDir = join(prefix, 'cache');
  for (const d of ['logs', 'tmp', 'conf.d/ocdn']) mkdirSync(join(prefix, d), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `# test nginx for ocdn
user root;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${prefix}/tmp/body;
    proxy_temp_path ${prefix}/tmp/proxy;
    fastcgi_temp_path ${prefix}/tmp/fastcgi;
    uwsgi_temp_path ${prefix}/tmp/uwsgi;
    scgi_temp_path ${prefix}/tmp/scgi;
    include ${confDir}/*.conf;
}
`,
  );
  const base = [nginxPath, '-p', prefix, '-c', conf];
  const r = spawnSync(base[0]!, base.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nginx did not start: ${r.stderr}`);
  const testCmd = [...base, '-t'];
  const reloadCmd = [...base, '-s', 'reload'];
  return {
    prefix,
    confDir,
    cacheDir,
    testCmd,
    reloadCmd,
    agentEnv: { OCDN_NGINX_CONF_DIR: confDir, OCDN_NGINX_CACHE_DIR: cacheDir, OCDN_NGINX_TEST_CMD: testCmd.join(' '), OCDN_NGINX_RELOAD_CMD: reloadCmd.join(' ') },
    stop() {
      spawnSync(base[0]!, [...base.slice(1), '-s', 'stop'], { encoding: 'utf8' });
    },
  };
}
