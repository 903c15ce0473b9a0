import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, utimesSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceLiveness, InstanceState } from '../../src/sandbox/lifecycle/instance-liveness.js';
import type { SandboxInventory } from '../../src/sandbox/engine/sandbox-container.js';
import { SandboxReaper } from '../../src/sandbox/lifecycle/sandbox-reaper.js';
import { sandboxLabels } from '../../src/sandbox/docker/sandbox-labels.js';
import { UnixSocketLiveness } from '../../src/sandbox/lifecycle/unix-socket-liveness.js';

const HOUR = 3_600_000;
const ANNOUNCE_AND_WAIT = `
import { UnixSocketLiveness } from './src/sandbox/lifecycle/unix-socket-liveness.ts';
await new UnixSocketLiveness({ directory: process.argv[1], instanceId: 'crashed' }).announce();
process.stdout.write('ready');
setInterval(() => undefined, 1000);
`;
const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

/** The engine as the reaper sees it: labelled containers, and which of them got removed. */
class FakeInventory implements SandboxInventory {
  readonly removed: string[] = [];
  constructor(private readonly containers: { id: string; instance: string; expiresAt: number }[]) {}
  list = async () =>
    this.containers
      .filter((c) => !this.removed.includes(c.id))
      .map((c) => ({ id: c.id, labels: sandboxLabels(c.instance, c.id, c.expiresAt) }));
  remove = async (id: string) => void this.removed.push(id);
}

/** Liveness as a table; records forgotten announcements. */
class FakeLiveness implements InstanceLiveness {
  readonly forgotten: string[] = [];
  constructor(private readonly states: Record<string, InstanceState>) {}
  announce = async () => undefined;
  withdraw = async () => undefined;
  state = async (id: string) => this.states[id] ?? 'unknown';
  announced = async () => Object.keys(this.states);
  forget = async (id: string) => void this.forgotten.push(id);
}

function setUp(states: Record<string, InstanceState>, instances: string[], oldDirs: string[] = []) {
  const jobsRoot = mkdtempSync(join(tmpdir(), 'reaper-test-'));
  roots.push(jobsRoot);
  const now = Date.now();
  const containers = instances.flatMap((instance) => [
    { id: `${instance}-fresh`, instance, expiresAt: now + HOUR },
    { id: `${instance}-expired`, instance, expiresAt: now - HOUR },
  ]);
  for (const instance of instances) {
    mkdirSync(join(jobsRoot, instance, 'job-1'), { recursive: true });
    const when = oldDirs.includes(instance) ? (now - 2 * HOUR) / 1000 : now / 1000;
    utimesSync(join(jobsRoot, instance), when, when);
  }
  const docker = new FakeInventory(containers);
  const liveness = new FakeLiveness(states);
  const reaper = new SandboxReaper({
    containers: docker,
    instanceId: 'me',
    jobsRoot,
    liveness,
    jobDirMaxAgeMs: HOUR,
    logger: pino({ level: 'silent' }),
  });
  return { reaper, docker, liveness, dirs: () => readdirSync(jobsRoot).sort() };
}

describe('SandboxReaper', () => {
  it('never touches a live instance, even its expired containers and old job directories', async () => {
    const { reaper, docker, dirs } = setUp({ me: 'alive', other: 'alive' }, ['other'], ['other']);
    await reaper.reap(false);
    await reaper.reap(true);
    expect(docker.removed).toEqual([]);
    expect(dirs()).toEqual(['other']);
  });

  it('removes everything of a dead instance at once, fresh or not, and forgets its announcement', async () => {
    const { reaper, docker, liveness, dirs } = setUp({ me: 'alive', dead: 'dead', live: 'alive' }, [
      'dead',
      'live',
    ]);
    await reaper.reap(false);
    expect(docker.removed.sort()).toEqual(['dead-expired', 'dead-fresh']);
    expect(dirs()).toEqual(['live']);
    expect(liveness.forgotten).toEqual(['dead']);
  });

  it('falls back to expiry labels and job directory age for instances of unknown liveness', async () => {
    const { reaper, docker, dirs } = setUp({ me: 'alive' }, ['elsewhere', 'old'], ['old']);
    await reaper.reap(false);
    expect(docker.removed.sort()).toEqual(['elsewhere-expired', 'old-expired']);
    expect(dirs()).toEqual(['elsewhere']);
  });

  it('removes its own sandboxes only when asked (start-up, shutdown), apart from expired ones', async () => {
    const { reaper, docker, dirs } = setUp({ me: 'alive' }, ['me'], ['me']);
    await reaper.reap(false);
    expect(docker.removed).toEqual(['me-expired']);
    expect(dirs()).toEqual(['me']);
    await reaper.reap(true);
    expect(docker.removed.sort()).toEqual(['me-expired', 'me-fresh']);
    expect(dirs()).toEqual([]);
  });
});

describe('UnixSocketLiveness', () => {
  const directory = () => {
    const root = mkdtempSync(join(tmpdir(), 'liveness-'));
    roots.push(root);
    return join(root, 'instances');
  };

  it('is alive while announcing, unknown when never announced, dead when the socket is left behind', async () => {
    const dir = directory();
    const a = new UnixSocketLiveness({ directory: dir, instanceId: 'a' });
    const observer = new UnixSocketLiveness({ directory: dir, instanceId: 'observer' });
    await a.announce();
    expect(await observer.state('a')).toBe('alive');
    expect(await observer.state('never')).toBe('unknown');
    expect(await observer.announced()).toEqual(['a']);
    await observer.forget('a'); // refuses: a is alive
    expect(await observer.announced()).toEqual(['a']);
    await a.withdraw();
    expect(await observer.state('a')).toBe('unknown');
  });

  it('refuses a second live instance with the same id, and takes over a dead one', async () => {
    const dir = directory();
    const first = new UnixSocketLiveness({ directory: dir, instanceId: 'same' });
    await first.announce();
    await expect(new UnixSocketLiveness({ directory: dir, instanceId: 'same' }).announce()).rejects.toThrow(
      /in use by a live instance/,
    );
    await first.withdraw();
    const second = new UnixSocketLiveness({ directory: dir, instanceId: 'same' });
    await second.announce();
    expect(await new UnixSocketLiveness({ directory: dir, instanceId: 'x' }).state('same')).toBe('alive');
    await second.withdraw();
  });

  it('reports an instance SIGKILLed while announcing as dead, and forgets it', async () => {
    const dir = directory();
    // A separate process announces, then dies without any chance to clean up.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', ANNOUNCE_AND_WAIT, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const observer = new UnixSocketLiveness({ directory: dir, instanceId: 'observer' });
    expect(await observer.state('crashed')).toBe('alive');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await observer.state('crashed')).toBe('dead');
    await observer.forget('crashed');
    expect(await observer.announced()).toEqual([]);
  });

  it('rejects a work root too long for a unix socket path', () => {
    expect(() => new UnixSocketLiveness({ directory: `/${'x'.repeat(120)}`, instanceId: 'a' })).toThrow(
      /SANDBOX_WORK_ROOT/,
    );
  });
});
