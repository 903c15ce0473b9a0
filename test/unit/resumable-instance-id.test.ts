import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { UnixSocketLiveness } from '../../src/sandbox/lifecycle/unix-socket-liveness.js';
import { resumableInstanceId } from '../../src/wiring/resumable-instance-id.js';

const logger = pino({ level: 'silent' });
const roots: string[] = [];
const announced: UnixSocketLiveness[] = [];

function workRoot(registries: Record<string, number> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'resumable-id-'));
  roots.push(root);
  mkdirSync(join(root, 'sessions'));
  for (const [id, ageS] of Object.entries(registries)) {
    const path = join(root, 'sessions', `${id}.json`);
    writeFileSync(path, '{}');
    const at = Date.now() / 1000 - ageS;
    utimesSync(path, at, at);
  }
  return root;
}

afterEach(async () => {
  for (const liveness of announced.splice(0)) await liveness.withdraw();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('resumableInstanceId', () => {
  it('keeps the fresh id when the work root records no sessions', async () => {
    const config = loadConfig({ SANDBOX_WORK_ROOT: workRoot() });
    expect(await resumableInstanceId(config, logger)).toBe(config.instanceId);
  });

  it("takes over the newest stopped instance's id, skipping a live one's and names that are no id", async () => {
    const root = workRoot({ older: 60, newer: 10, alive: 1, 'not an id!': 0 });
    const live = new UnixSocketLiveness({ directory: join(root, 'instances'), instanceId: 'alive' });
    await live.announce();
    announced.push(live);
    const config = loadConfig({ SANDBOX_WORK_ROOT: root });
    expect(await resumableInstanceId(config, logger)).toBe('newer');
  });

  it('an instance killed by SIGKILL (its socket left, nobody listening) counts as stopped', async () => {
    const root = workRoot({ crashed: 5 });
    mkdirSync(join(root, 'instances'));
    const socket = join(root, 'instances', 'crashed.sock');
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(socket)).toBe(true);
    const config = loadConfig({ SANDBOX_WORK_ROOT: root });
    expect(await resumableInstanceId(config, logger)).toBe('crashed');
  });

  it('uses SANDBOX_INSTANCE_ID as given, and takes over nothing when sessions are off', async () => {
    const root = workRoot({ stopped: 5 });
    expect(
      await resumableInstanceId(
        loadConfig({ SANDBOX_WORK_ROOT: root, SANDBOX_INSTANCE_ID: 'pod-0' }),
        logger,
      ),
    ).toBe('pod-0');
    const off = loadConfig({ SANDBOX_WORK_ROOT: root, SANDBOX_MAX_SESSIONS: '0' });
    expect(await resumableInstanceId(off, logger)).toBe(off.instanceId);
  });
});
