import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import {
  ConfigError,
  configurationVariables,
  loadConfig,
  MAX_TIMER_MS,
  sessionsPerCallerDefault,
} from '../../src/config/config.js';
import { readSandboxImages } from '../../src/config/sandbox-images.js';
import { SESSION_MEMORY_FLOOR_BYTES } from '../../src/domain/limits.js';
import { readEnvFile } from '../support/env-file.js';
import { tableRows } from '../support/markdown.js';

const GiB = 1024 ** 3;
const HOST = { cpus: 2, memoryBytes: 8 * GiB };
const VARIABLES = configurationVariables();
/** The page that documents every variable (its table is checked below). */
const CONFIGURATION_PAGE = 'docs/configuration.md';

/** The problems loadConfig reports for `env` on HOST (none: []). */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, HOST);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('loadConfig', () => {
  it('gives safe defaults: runsc, loopback, documented ports and limits', () => {
    const config = loadConfig({}, { cpus: 2, memoryBytes: 8 * 1024 ** 3 });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      grpcPort: 50051,
      httpPort: 9385,
      runtime: 'runsc',
      concurrency: 6,
      maxQueued: 24,
      seccomp: false,
      trustedNetworks: [],
      images: readSandboxImages(),
      authToken: undefined,
    });
    expect(config.defaultLimits).toEqual({
      timeoutMs: 10_000,
      memoryBytes: 256 * 1024 * 1024,
      cpuMillicores: 1000,
      maxProcesses: 64,
      outputBytes: 1024 * 1024,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(config.instanceId).toMatch(/^[0-9a-f]{8}$/);
  });

  it('reads SANDBOX_ variables and treats empty ones as unset', () => {
    const config = loadConfig({
      SANDBOX_GRPC_PORT: '6000',
      SANDBOX_MAX_TIMEOUT_MS: '5000',
      SANDBOX_DEFAULT_TIMEOUT_MS: '2000',
      SANDBOX_HTTP_PORT: '',
      SANDBOX_INSTANCE_ID: 'node-a',
      UNRELATED: 'ignored',
    });
    expect(config.grpcPort).toBe(6000);
    expect(config.httpPort).toBe(9385);
    expect(config.limitCeilings.timeoutMs).toBe(5000);
    expect(config.defaultLimits.timeoutMs).toBe(2000);
    expect(config.instanceId).toBe('node-a');
  });

  it('reports every bad variable at once', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        SANDBOX_GRPC_PORT: 'abc',
        SANDBOX_HTTP_PORT: '70000',
        SANDBOX_CONCURRENCY: '0',
        SANDBOX_WORK_ROOT: 'relative/path',
        SANDBOX_TIMEOUTMS: '5',
      });
    } catch (caught) {
      error = caught as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.problems.join('\n');
    for (const key of [
      'SANDBOX_GRPC_PORT',
      'SANDBOX_HTTP_PORT',
      'SANDBOX_CONCURRENCY',
      'SANDBOX_WORK_ROOT',
      'SANDBOX_TIMEOUTMS',
    ]) {
      expect(text).toContain(key);
    }
  });

  it('gives each caller half the session slots unless SANDBOX_MAX_SESSIONS_PER_CALLER says otherwise', () => {
    const host = { cpus: 2, memoryBytes: 8 * 1024 ** 3 };
    expect(loadConfig({}, host)).toMatchObject({ maxSessions: 8, maxSessionsPerCaller: 4 });
    expect(loadConfig({ SANDBOX_MAX_SESSIONS: '1' }, host).maxSessionsPerCaller).toBe(1);
    expect(loadConfig({ SANDBOX_MAX_SESSIONS: '5' }, host).maxSessionsPerCaller).toBe(3);
    expect(loadConfig({ SANDBOX_MAX_SESSIONS_PER_CALLER: '' }, host).maxSessionsPerCaller).toBe(4);
    expect(loadConfig({ SANDBOX_MAX_SESSIONS_PER_CALLER: '8' }, host).maxSessionsPerCaller).toBe(8);
    expect(() => loadConfig({ SANDBOX_MAX_SESSIONS_PER_CALLER: '9' }, host)).toThrow(
      /SANDBOX_MAX_SESSIONS_PER_CALLER: 9 is more than SANDBOX_MAX_SESSIONS \(8\)/,
    );
    expect(() => loadConfig({ SANDBOX_MAX_SESSIONS_PER_CALLER: '0' }, host)).toThrow(ConfigError);
    // The documented places state the rule, not a second number that could drift from it.
    expect(readEnvFile('.env.example').SANDBOX_MAX_SESSIONS_PER_CALLER).toBe('');
    const row = readFileSync(CONFIGURATION_PAGE, 'utf8')
      .split('\n')
      .find((line) => line.startsWith('| `SANDBOX_MAX_SESSIONS_PER_CALLER`'));
    expect(row).toContain(
      `half of \`SANDBOX_MAX_SESSIONS\`, rounded up (\`${sessionsPerCallerDefault(8)}\`)`,
    );
  });

  it('refuses a default above its ceiling', () => {
    expect(() => loadConfig({ SANDBOX_DEFAULT_MEMORY_BYTES: String(2 * 1024 ** 3) })).toThrow(
      /SANDBOX_DEFAULT_MEMORY_BYTES.*above SANDBOX_MAX_MEMORY_BYTES/,
    );
  });

  it('refuses to serve off loopback without a token unless explicitly allowed', () => {
    expect(() => loadConfig({ SANDBOX_HOST: '0.0.0.0' })).toThrow(
      /SANDBOX_AUTH_TOKEN: required when binding to 0\.0\.0\.0/,
    );
    expect(
      loadConfig({ SANDBOX_HOST: '0.0.0.0', SANDBOX_AUTH_TOKEN: 'a-long-enough-secret' }).authToken,
    ).toBe('a-long-enough-secret');
    expect(
      loadConfig({ SANDBOX_HOST: '0.0.0.0', SANDBOX_ALLOW_UNAUTHENTICATED: 'true' }).allowUnauthenticated,
    ).toBe(true);
    expect(loadConfig({ SANDBOX_HOST: '127.0.0.2' }).authToken).toBeUndefined();
    expect(() => loadConfig({ SANDBOX_AUTH_TOKEN: 'short' })).toThrow(/at least 16/);
  });

  it('refuses a runtime other than runsc unless explicitly allowed', () => {
    expect(() => loadConfig({ SANDBOX_RUNTIME: 'runc' })).toThrow(/SANDBOX_ALLOW_NON_GVISOR_RUNTIME/);
    expect(loadConfig({ SANDBOX_RUNTIME: 'runc', SANDBOX_ALLOW_NON_GVISOR_RUNTIME: 'true' }).runtime).toBe(
      'runc',
    );
  });

  it('runs on dockerd unless SANDBOX_BACKEND=containerd, which refuses sessions and packages', () => {
    expect(loadConfig({}).backend).toBe('docker');
    expect(() => loadConfig({ SANDBOX_BACKEND: 'podman' })).toThrow(/SANDBOX_BACKEND/);
    expect(() => loadConfig({ SANDBOX_BACKEND: 'containerd' })).toThrow(
      /sessions are not supported on the containerd backend yet; set SANDBOX_MAX_SESSIONS=0/,
    );
    const config = loadConfig({ SANDBOX_BACKEND: 'containerd', SANDBOX_MAX_SESSIONS: '0' });
    expect(config.backend).toBe('containerd');
    expect(config.containerd).toEqual({
      socket: '/run/containerd/containerd.sock',
      namespace: 'code-sandbox',
      runtimeDir: '/usr/local/lib/code-sandbox/containerd-runtimes',
    });
    expect(() =>
      loadConfig({
        SANDBOX_BACKEND: 'containerd',
        SANDBOX_MAX_SESSIONS: '0',
        SANDBOX_PYPI_INDEX_URL: 'https://pypi.org/simple/',
      }),
    ).toThrow(/packages are not supported on the containerd backend yet/);
    expect(() => loadConfig({ SANDBOX_CONTAINERD_NAMESPACE: 'no spaces' })).toThrow(
      /SANDBOX_CONTAINERD_NAMESPACE/,
    );
  });

  it('allows no egress by default, an operator list, and an explicit logged-open mode', () => {
    expect(loadConfig({}).egress).toEqual({
      ceiling: [],
      open: false,
      maxConnections: 64,
      maxOpenConnections: 8,
      maxBytes: 32 * 1024 * 1024,
    });
    const listed = loadConfig({
      SANDBOX_EGRESS_ALLOW: ' pypi.org , *.pythonhosted.org:443,db.internal:5432',
    });
    expect(
      listed.egress.ceiling.map((rule) => [rule.kind, rule.host, rule.ports, rule.reachesPrivate]),
    ).toEqual([
      ['exact', 'pypi.org', [80, 443], true],
      ['subdomains', 'pythonhosted.org', [443], false],
      ['exact', 'db.internal', [5432], true],
    ]);
    const open = loadConfig({ SANDBOX_EGRESS_OPEN: 'true' }).egress;
    expect(open.open).toBe(true);
    expect(open.ceiling).toEqual([{ kind: 'any', host: '', ports: undefined, reachesPrivate: false }]);
  });

  it('refuses bad egress entries, and "*" outside the explicit open mode', () => {
    expect(() => loadConfig({ SANDBOX_EGRESS_ALLOW: 'ok.org,bad host,x:99999' })).toThrow(
      /SANDBOX_EGRESS_ALLOW: "bad host".*\n.*SANDBOX_EGRESS_ALLOW: "x:99999": port must be 1-65535/s,
    );
    expect(() => loadConfig({ SANDBOX_EGRESS_ALLOW: '*' })).toThrow(/SANDBOX_EGRESS_OPEN=true/);
  });

  // Every duration ends in a Node timer, which fires after 1 ms when given more than 2^31-1 ms.
  const DURATIONS = [
    'SANDBOX_SHUTDOWN_GRACE_MS',
    'SANDBOX_HEALTH_CHECK_INTERVAL_MS',
    'SANDBOX_DEFAULT_TIMEOUT_MS',
    'SANDBOX_MAX_TIMEOUT_MS',
    'SANDBOX_HTTP_REQUEST_TIMEOUT_MS',
    'SANDBOX_POOL_MAX_IDLE_MS',
    'SANDBOX_REAP_INTERVAL_MS',
    'SANDBOX_EXPIRY_MARGIN_MS',
    'SANDBOX_RESPONSE_WRITE_TIMEOUT_MS',
    'SANDBOX_SESSION_IDLE_TIMEOUT_MS',
    'SANDBOX_SESSION_MAX_LIFETIME_MS',
    'SANDBOX_PACKAGES_INSTALL_TIMEOUT_MS',
    'SANDBOX_PACKAGES_INDEX_TTL_MS',
    'SANDBOX_SESSION_PAUSE_AFTER_MS',
  ];
  it.each(DURATIONS)('refuses %s above the timer limit, naming it, and takes the limit itself', (key) => {
    // The default timeout may not exceed the ceiling, so both move together where needed.
    const companion: Record<string, string> =
      key === 'SANDBOX_DEFAULT_TIMEOUT_MS' ? { SANDBOX_MAX_TIMEOUT_MS: String(MAX_TIMER_MS) } : {};
    expect(problemsOf({ ...companion, [key]: String(MAX_TIMER_MS + 1) })).toEqual([
      expect.stringMatching(new RegExp(`^${key}: at most 2147483647 ms`)),
    ]);
    expect(problemsOf({ ...companion, [key]: String(MAX_TIMER_MS) })).toEqual([]);
  });

  // The largest accepted value of each size; one byte more is refused, naming the key.
  const SIZE_BOUNDS: Record<string, number> = {
    SANDBOX_SCRATCH_BYTES: HOST.memoryBytes,
    SANDBOX_DEFAULT_MEMORY_BYTES: HOST.memoryBytes,
    SANDBOX_MAX_MEMORY_BYTES: HOST.memoryBytes,
    SANDBOX_SESSION_DEFAULT_MEMORY_BYTES: HOST.memoryBytes,
    SANDBOX_DEFAULT_OUTPUT_BYTES: 64 * 1024 ** 2,
    SANDBOX_MAX_OUTPUT_BYTES: 64 * 1024 ** 2,
    SANDBOX_MAX_CODE_BYTES: 64 * 1024 ** 2,
    SANDBOX_MAX_INPUT_BYTES: 256 * 1024 ** 2,
    SANDBOX_MAX_ARTIFACT_BYTES: 256 * 1024 ** 2,
    SANDBOX_MAX_RETURN_VALUE_BYTES: 3 * 1024 ** 2,
    SANDBOX_EGRESS_MAX_BYTES: Number.MAX_SAFE_INTEGER,
    SANDBOX_PACKAGES_MAX_BYTES: HOST.memoryBytes,
    SANDBOX_PACKAGES_CACHE_MAX_BYTES: Number.MAX_SAFE_INTEGER,
    SANDBOX_SESSION_CHECKPOINT_BUDGET_BYTES: Number.MAX_SAFE_INTEGER,
  };
  it.each(Object.entries(SIZE_BOUNDS))('bounds %s at %d', (key, bound) => {
    // Defaults may not exceed ceilings: raise the ceiling alongside.
    const ceiling = key.replace('_DEFAULT_', '_MAX_');
    const companion = ceiling !== key && VARIABLES.includes(ceiling) ? { [ceiling]: String(bound) } : {};
    expect(problemsOf({ ...companion, [key]: String(bound) })).toEqual([]);
    if (bound === Number.MAX_SAFE_INTEGER) return; // a counter: any safe integer is a real cap
    expect(problemsOf({ ...companion, [key]: String(bound + 1) })).toEqual([
      expect.stringMatching(new RegExp(`^${key}: `)),
    ]);
  });

  // Counts: the largest accepted value; one more is refused, naming the key. CPU: Docker refuses a
  // container with more than the host's CPUs (HOST has 2).
  const COUNT_BOUNDS: Record<string, number> = {
    SANDBOX_GRPC_PORT: 65535,
    SANDBOX_HTTP_PORT: 65535,
    SANDBOX_CONCURRENCY: 1024,
    SANDBOX_MAX_QUEUED: 100_000,
    SANDBOX_DEFAULT_CPU_MILLICORES: 2000,
    SANDBOX_MAX_CPU_MILLICORES: 2000,
    SANDBOX_DEFAULT_PROCESSES: 4096,
    SANDBOX_MAX_PROCESSES: 4096,
    SANDBOX_MAX_FILES: 10_000,
    SANDBOX_MAX_ARTIFACTS: 10_000,
    SANDBOX_POOL_SIZE: 256,
    SANDBOX_MAX_PAUSED_SESSIONS: 100_000,
    SANDBOX_POOL_MAX: 256,
    SANDBOX_POOL_FILL_CONCURRENCY: 16,
    SANDBOX_TEARDOWN_CONCURRENCY: 32,
    SANDBOX_MAX_SESSIONS: 1024,
    SANDBOX_MAX_SESSIONS_PER_CALLER: 1024,
    SANDBOX_SESSION_POOL_SIZE: 64,
    SANDBOX_EGRESS_MAX_CONNECTIONS: 100_000,
    SANDBOX_EGRESS_MAX_OPEN_CONNECTIONS: 1024,
    SANDBOX_PACKAGES_MAX_COUNT: 256,
  };
  it.each(Object.entries(COUNT_BOUNDS))('bounds %s at %d', (key, bound) => {
    // A per-caller share may not exceed the total it is a share of: raise that alongside.
    const ceiling = key.endsWith('_PER_CALLER')
      ? key.slice(0, -'_PER_CALLER'.length)
      : key.replace('_DEFAULT_', '_MAX_');
    const companion = ceiling !== key && VARIABLES.includes(ceiling) ? { [ceiling]: String(bound) } : {};
    expect(problemsOf({ ...companion, [key]: String(bound) })).toEqual([]);
    expect(problemsOf({ ...companion, [key]: String(bound + 1) })).toEqual([
      expect.stringMatching(new RegExp(`^${key}: `)),
    ]);
  });

  it('has a bound table above for every numeric variable', () => {
    // A numeric variable is one that refuses a non-number; a new one must join a table, and so get a bound.
    const numeric = VARIABLES.filter((key) =>
      problemsOf({ [key]: 'not-a-number' }).some((problem) => problem.includes('expected number')),
    );
    const tabled = new Set([...DURATIONS, ...Object.keys(SIZE_BOUNDS), ...Object.keys(COUNT_BOUNDS)]);
    expect(numeric.length).toBeGreaterThan(30);
    expect(numeric.filter((key) => !tabled.has(key))).toEqual([]);
  });

  it("keeps a session's memory at or above what its kernel needs", () => {
    const below = String(SESSION_MEMORY_FLOOR_BYTES - 1);
    expect(problemsOf({ SANDBOX_SESSION_DEFAULT_MEMORY_BYTES: below })).toEqual([
      expect.stringMatching(/^SANDBOX_SESSION_DEFAULT_MEMORY_BYTES: /),
    ]);
    // Sessions get at most the memory ceiling: a ceiling under the floor starves them too.
    expect(problemsOf({ SANDBOX_MAX_MEMORY_BYTES: below, SANDBOX_DEFAULT_MEMORY_BYTES: below })).toEqual([
      expect.stringMatching(
        /^SANDBOX_MAX_MEMORY_BYTES: .* below the .* a session's kernel needs.*SANDBOX_MAX_SESSIONS=0/,
      ),
    ]);
    // ... unless sessions are off: one-shot runs make do with less.
    expect(
      problemsOf({
        SANDBOX_MAX_MEMORY_BYTES: below,
        SANDBOX_DEFAULT_MEMORY_BYTES: below,
        SANDBOX_MAX_SESSIONS: '0',
      }),
    ).toEqual([]);
    expect(problemsOf({ SANDBOX_SESSION_DEFAULT_MEMORY_BYTES: String(SESSION_MEMORY_FLOOR_BYTES) })).toEqual(
      [],
    );
  });

  it('reports every out-of-bounds key at once', () => {
    const problems = problemsOf({
      SANDBOX_MAX_TIMEOUT_MS: String(2 ** 32),
      SANDBOX_SESSION_IDLE_TIMEOUT_MS: String(2 ** 31),
      SANDBOX_MAX_MEMORY_BYTES: String(97 * 1024 ** 4),
      SANDBOX_MAX_CPU_MILLICORES: '64000',
    });
    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual([
      'SANDBOX_MAX_CPU_MILLICORES',
      'SANDBOX_MAX_MEMORY_BYTES',
      'SANDBOX_MAX_TIMEOUT_MS',
      'SANDBOX_SESSION_IDLE_TIMEOUT_MS',
    ]);
  });
});

/**
 * What the configuration page says each variable defaults to: a row may document two variables
 * (`A` / `B`) with two defaults (`x / y`), or one default for both.
 */
function documentedDefaults(): Map<string, string> {
  const documented = new Map<string, string>();
  for (const [variables = '', defaults = ''] of tableRows(
    readFileSync(CONFIGURATION_PAGE, 'utf8'),
    'variable',
  )) {
    const names = [...variables.matchAll(/`([A-Z0-9_]+)`/g)].map((match) => match[1]!);
    const values = defaults.includes(' / ') ? defaults.split(' / ') : names.map(() => defaults);
    expect(values, `${variables}: one default per variable`).toHaveLength(names.length);
    names.forEach((name, index) => {
      expect(documented.has(name), `${name} is documented twice`).toBe(false);
      documented.set(name, values[index]!.trim());
    });
  }
  return documented;
}

const UNIT_BYTES: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: GiB };

/**
 * The values an operator could set to get what the page calls the default (one of them must be it),
 * or undefined where the page describes a default the service derives (from the host, at random, unset).
 */
function settableDefaults(documented: string): string[] | undefined {
  // loadConfig reads an empty value as unset: for `empty` this only checks that the row parses.
  if (documented === 'empty') return [''];
  if (/^\d+$/.test(documented)) return [documented];
  const size = /^(\d+) (KiB|MiB|GiB)$/.exec(documented);
  if (size) return [String(Number(size[1]) * UNIT_BYTES[size[2]!]!)];
  if (documented.startsWith('`'))
    return [...documented.matchAll(/`([^`]*)`/g)].map((match) => match[1]!.replace('$TMPDIR', tmpdir()));
  return undefined;
}

describe(CONFIGURATION_PAGE, () => {
  it('lists every variable the service reads, and no other', () => {
    expect([...documentedDefaults().keys()].sort()).toEqual([...VARIABLES].sort());
  });

  it("states each variable's default as the service has it", () => {
    // A fixed instance id: otherwise every loadConfig makes up its own.
    const base = { SANDBOX_INSTANCE_ID: 'configuration-page' };
    const defaults = loadConfig(base, HOST);
    const wrong: string[] = [];
    let checked = 0;
    for (const [name, documented] of documentedDefaults()) {
      expect(documented, `${name} has no default on the page`).not.toBe('');
      const candidates = settableDefaults(documented);
      if (candidates === undefined) continue;
      checked += 1;
      const matches = candidates.some((value) => {
        try {
          return isDeepStrictEqual(loadConfig({ ...base, [name]: value }, HOST), defaults);
        } catch {
          return false;
        }
      });
      if (!matches) wrong.push(`${name}: the page says ${documented}`);
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(40);
  });
});
