import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { EgressGateway } from '../../src/egress/egress-gateway.js';

const directory = mkdtempSync(join(tmpdir(), 'egress-gateway-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const gateway = new EgressGateway({
  socketName: 'egress.sock',
  caps: { maxConnections: 1, maxOpenConnections: 1, maxBytes: 1 },
  resolve: async () => [],
  metrics: { egressRequest: () => undefined },
  logger: pino({ level: 'silent' }),
});

const reachable = (path: string) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe('EgressGateway', () => {
  it("opens a world-connectable socket in the sandbox's job directory, gone once closed", async () => {
    const channel = await gateway.open('sandbox-1', directory);
    expect(channel.socketPath).toBe(join(directory, 'egress.sock'));
    expect(statSync(channel.socketPath).mode & 0o777).toBe(0o666);
    expect(await reachable(channel.socketPath)).toBe(true);
    channel.close();
    expect(await reachable(channel.socketPath)).toBe(false);
  });

  it('refuses a work root too deep for a unix socket path, naming the fix', () => {
    expect(gateway.checkSocketPath('/dev/shm/code-sandbox/jobs/abcdefgh', 36)).toBeUndefined();
    expect(gateway.checkSocketPath(`/srv/${'x'.repeat(80)}/jobs/abcdefgh`, 36)).toMatch(
      /egress sockets would be 14\d bytes long .* use a shorter SANDBOX_WORK_ROOT or SANDBOX_INSTANCE_ID/,
    );
  });
});
