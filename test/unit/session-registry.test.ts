import { mkdtempSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  parseRegistry,
  REGISTRY_VERSION,
  SessionRegistryFile,
  type SessionRecord,
} from '../../src/session/session-registry.js';

const record = (overrides: Partial<SessionRecord> = {}): SessionRecord => ({
  id: 'pod-0.0123456789abcdef0123456789abcdef',
  owner: 'token:default',
  language: 'python',
  limits: {
    timeoutMs: 10_000,
    memoryBytes: 512 << 20,
    cpuMillicores: 1000,
    maxProcesses: 64,
    outputBytes: 1 << 20,
  },
  network: { rules: [{ kind: 'exact', host: 'api.example.com', ports: [443], reachesPrivate: false }] },
  idleTimeoutMs: 600_000,
  createdAtMs: 1_700_000_000_000,
  expiresAtMs: 1_700_003_600_000,
  checkpointBytes: 12 << 20,
  sandbox: {
    containerId: 'a'.repeat(64),
    sandboxId: 'abcdef012345',
    jobHostDir: '/w/jobs/pod-0/abcdef012345',
    warm: false,
  },
  ...overrides,
});
const file = (sessions: unknown[]) => JSON.stringify({ version: REGISTRY_VERSION, sessions });

describe('parseRegistry', () => {
  it('adopts an exact record of this instance', () => {
    expect(parseRegistry(file([record()]), 'pod-0')).toEqual({ records: [record()], refused: [] });
  });

  it.each([
    ['an unknown field', { ...record(), extra: 1 }, 'Unrecognized key'],
    ['an id that is not a session id', record({ id: 'pod-0.nothex' }), 'id'],
    ['a language the service does not run', { ...record(), language: 'ruby' }, 'language'],
    [
      'a container id that is not one',
      record({ sandbox: { ...record().sandbox, containerId: '../x' } }),
      'containerId',
    ],
    ['a negative memory limit', record({ limits: { ...record().limits, memoryBytes: -1 } }), 'memoryBytes'],
    [
      'a network rule of an unknown kind',
      { ...record(), network: { rules: [{ kind: 'all', host: '', reachesPrivate: true }] } },
      'kind',
    ],
  ])('refuses (and says why) a record with %s', (_name, entry, reason) => {
    const { records, refused } = parseRegistry(
      file([
        entry,
        record({
          id: 'pod-0.' + 'f'.repeat(32),
          sandbox: { ...record().sandbox, containerId: 'b'.repeat(64) },
        }),
      ]),
      'pod-0',
    );
    expect(records).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('entry 0');
    expect(refused[0]).toContain(reason);
  });

  it("refuses another instance's session: its id would route to another replica", () => {
    const { records, refused } = parseRegistry(file([record()]), 'pod-1');
    expect(records).toEqual([]);
    expect(refused).toEqual(['entry 0: a session of another instance']);
  });

  it('refuses a second record of the same session or container', () => {
    const { records, refused } = parseRegistry(file([record(), record()]), 'pod-0');
    expect(records).toHaveLength(1);
    expect(refused).toEqual(['entry 1: a repeated session or container']);
  });

  it('adopts nothing from a file that is not JSON or of another version', () => {
    expect(parseRegistry('{"version":1,"sessions":[', 'pod-0').records).toEqual([]);
    expect(parseRegistry(JSON.stringify({ version: 2, sessions: [record()] }), 'pod-0')).toEqual({
      records: [],
      refused: ['the registry is not version 1'],
    });
  });
});

describe('SessionRegistryFile', () => {
  it('writes mode 0600 in a 0700 directory, reads back what it wrote, and removes itself when empty', async () => {
    const root = mkdtempSync(join(tmpdir(), 'registry-'));
    const registry = new SessionRegistryFile(join(root, 'sessions', 'pod-0.json'), 'pod-0');
    expect(await registry.load()).toEqual({ records: [], refused: [] });
    await registry.save([record()]);
    expect(statSync(registry.path).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'sessions')).mode & 0o777).toBe(0o700);
    expect((await registry.load()).records).toEqual([record()]);
    await registry.save([]);
    expect(await registry.load()).toEqual({ records: [], refused: [] });
  });

  it('a tampered file is refused entry by entry, never adopted', async () => {
    const root = mkdtempSync(join(tmpdir(), 'registry-'));
    const registry = new SessionRegistryFile(join(root, 'pod-0.json'), 'pod-0');
    await writeFile(registry.path, file([{ ...record(), owner: '' }]));
    const { records, refused } = await registry.load();
    expect(records).toEqual([]);
    expect(refused[0]).toContain('owner');
  });
});
