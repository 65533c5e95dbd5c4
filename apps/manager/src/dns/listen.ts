// The built-in DNS's sockets: UDP and TCP on one port. Bound by the answerer itself (one answerer, worker.ts) or by the
// manager, which hands them to several answering processes (OCDN_DNS_ANSWERERS, answerer.ts).
import dgram from 'node:dgram';
import net from 'node:net';

export interface DnsSockets {
  udp: dgram.Socket;
  tcp: net.Server;
  port: number;
}

/**
 * UDP and TCP on one port. Asked for any free port (0), the kernel picks one for UDP that TCP may have in use: then
 * both are given up and another is tried. Errors name the address and the settings that choose it.
 */
export async function listenDns(host: string, port: number): Promise<DnsSockets> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listenOnce(host, port);
    } catch (err) {
      if (port !== 0 || attempt >= 20 || !(err as Error).message.includes('EADDRINUSE')) throw err;
    }
  }
}

async function listenOnce(host: string, port: number): Promise<DnsSockets> {
  const udp = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => resolve());
  }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`built-in DNS cannot listen on ${host}:${port}/udp (${err.code}); set OCDN_DNS_HOST/OCDN_DNS_PORT`);
  });
  udp.on('error', () => {}); // a send to a vanished client; the socket stays up
  try {
    // Room for bursts: the kernel caps this at net.core.rmem_max. Set on the socket, so shared by every answerer.
    udp.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // kept at the system's default
  }
  const bound = udp.address().port;
  const tcp = net.createServer();
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(bound, host, () => resolve());
  }).catch((err: NodeJS.ErrnoException) => {
    udp.close();
    throw new Error(`built-in DNS cannot listen on ${host}:${bound}/tcp (${err.code}); set OCDN_DNS_HOST/OCDN_DNS_PORT`);
  });
  return { udp, tcp, port: bound };
}
