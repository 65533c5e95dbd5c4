import type { AgentEnv } from '../env.ts';
import type { Logger } from '../log.ts';
import type { AgentRole, RoleGate } from '../role.ts';
import { DnsDriver } from './driver.ts';

/** The dns role: forward zones on BIND or Unbound (`dns.apply`, the whole desired state with its hash). */
export function dnsRole(env: AgentEnv, log: Logger, gate: RoleGate): AgentRole {
  const dns = new DnsDriver({
    driver: env.OCDN_DNS_DRIVER,
    bindIncludeDir: env.OCDN_BIND_INCLUDE_DIR,
    bindCheckconfCmd: env.OCDN_BIND_CHECKCONF_CMD,
    rndcCmd: env.OCDN_RNDC_CMD,
    unboundIncludeFile: env.OCDN_UNBOUND_INCLUDE_FILE,
    unboundCheckconfCmd: env.OCDN_UNBOUND_CHECKCONF_CMD,
    unboundControlCmd: env.OCDN_UNBOUND_CONTROL_CMD,
    log: log.child({ driver: env.OCDN_DNS_DRIVER }),
  });
  return {
    rpc(rpc) {
      rpc.register('dns.apply', async (p) => {
        gate.require('dns');
        return dns.apply(p);
      });
    },
    async held() {
      if (!gate.has('dns')) return [];
      const h = await dns.held().catch(() => null);
      return h ? [{ kind: 'dns', name: 'forwarding', version: null, hash: h.hash }] : [];
    },
    welcome() {},
  };
}
