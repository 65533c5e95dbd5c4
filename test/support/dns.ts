import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

/** The A records a DNS server on 127.0.0.1:`port` answers for `name` (one UDP query, 1 s timeout), sorted. */
export function queryA(port: number, name: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      sock.close();
      reject(new Error('DNS timeout'));
    }, 1000);
    sock.on('message', (msg) => {
      clearTimeout(t);
      sock.close();
      const p = dnsPacket.decode(msg);
      resolve((p.answers ?? []).flatMap((a) => (a.type === 'A' ? [String(a.data)] : [])).sort());
    });
    sock.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
  });
}
