import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

/** GET through nginx at ip:port with a Host header; resolves with status, headers and body, or the connection error. */
export function getWithHost(ip: string, port: number, host: string, path = '/'): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
