import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { agentPortState } from './port-probe.ts';

const listening = (): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1', () => resolve(server));
  });

describe("agentPortState (the fast probe of a node whose agent's socket closed)", () => {
  it('is open while something listens on the port, and refused once nothing does', async () => {
    const server = await listening();
    const port = (server.address() as AddressInfo).port;
    assert.equal(await agentPortState({ ip: '127.0.0.1', agentPort: port }, 2_000), 'open');
    await new Promise((r) => server.close(r));
    assert.equal(await agentPortState({ ip: '127.0.0.1', agentPort: port }, 2_000), 'refused');
  });
});
