import { describe, expect, it } from 'vitest';
import { ConfigError, concurrencyFor, loadConfig } from '../../src/config/config.js';
import { parseDockerMemory, parseDuration } from '../../src/config/ragflow-environment.js';

const MiB = 1024 * 1024;
const HOST = { cpus: 2, memoryBytes: 8 * 1024 ** 3 };

// The sandbox-executor-manager environment of RAGFlow's docker/docker-compose-base.yml, plus the
// rest of its docker/.env that `env_file: .env` passes along (infiniflow/ragflow).
const RAGFLOW_ENV = {
  SANDBOX_ENABLED: '1',
  SANDBOX_EXECUTOR_MANAGER_IMAGE: 'infiniflow/sandbox-executor-manager:latest',
  SANDBOX_EXECUTOR_MANAGER_PORT: '9385',
  SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '3',
  SANDBOX_BASE_PYTHON_IMAGE: 'infiniflow/sandbox-base-python:latest',
  SANDBOX_BASE_NODEJS_IMAGE: 'infiniflow/sandbox-base-nodejs:latest',
  SANDBOX_ENABLE_SECCOMP: 'false',
  SANDBOX_MAX_MEMORY: '256m',
  SANDBOX_TIMEOUT: '10s',
  SANDBOX_ARTIFACT_BUCKET: 'sandbox-artifacts',
};

describe("RAGFlow's executor-manager environment", () => {
  it('parses its memory and duration formats', () => {
    expect(parseDockerMemory('256m')).toBe(String(256 * MiB));
    expect(parseDockerMemory('1G')).toBe(String(1024 * MiB));
    expect(parseDockerMemory('512k')).toBe(String(512 * 1024));
    expect(parseDockerMemory('0m')).toBeInstanceOf(Error);
    expect(parseDockerMemory('256')).toBeInstanceOf(Error);
    expect(parseDuration('10s')).toBe('10000');
    expect(parseDuration('2m')).toBe('120000');
    expect(parseDuration('1m30s')).toBe('90000');
    expect(parseDuration('0s')).toBeInstanceOf(Error);
    expect(parseDuration('10')).toBeInstanceOf(Error);
  });

  it('maps its settings onto ours and names what it ignored in one notice', () => {
    const config = loadConfig({ ...RAGFLOW_ENV, SANDBOX_TIMEOUT: '1m30s', SANDBOX_MAX_MEMORY: '1g' }, HOST);
    expect(config.defaultLimits).toMatchObject({ timeoutMs: 90_000, memoryBytes: 1024 * MiB });
    expect(config.limitCeilings).toMatchObject({ timeoutMs: 90_000, memoryBytes: 1024 * MiB });
    expect(config.images).toEqual({
      python: 'infiniflow/sandbox-base-python:latest',
      nodejs: 'infiniflow/sandbox-base-nodejs:latest',
    });
    expect(config.poolMin).toBe(3);
    expect(config.seccomp).toBe(false);
    expect(config.notices).toHaveLength(1);
    expect(config.notices[0]).toContain('SANDBOX_MAX_MEMORY → SANDBOX_DEFAULT_MEMORY_BYTES');
    expect(config.notices[0]).toMatch(
      /ignored SANDBOX_ENABLED, SANDBOX_EXECUTOR_MANAGER_IMAGE, .*SANDBOX_ARTIFACT_BUCKET/,
    );
  });

  it('lets our own names win when both are set, and says so', () => {
    const config = loadConfig(
      {
        ...RAGFLOW_ENV,
        SANDBOX_PYTHON_IMAGE: 'code-sandbox-python:missing',
        SANDBOX_DEFAULT_TIMEOUT_MS: '5000',
      },
      HOST,
    );
    expect(config.images.python).toBe('code-sandbox-python:missing');
    expect(config.images.nodejs).toBe('infiniflow/sandbox-base-nodejs:latest');
    expect(config.defaultLimits.timeoutMs).toBe(5000);
    expect(config.limitCeilings.timeoutMs).toBe(10_000);
    expect(config.notices[0]).toContain('overridden SANDBOX_TIMEOUT (by SANDBOX_DEFAULT_TIMEOUT_MS)');
  });

  it('accepts its flag spellings and its token variables', () => {
    const config = loadConfig(
      {
        SANDBOX_ENABLE_SECCOMP: 'On',
        SANDBOX_HOST: '0.0.0.0',
        SANDBOX_EXECUTOR_MANAGER_API_TOKEN: 'a-long-enough-shared-secret',
      },
      HOST,
    );
    expect(config.seccomp).toBe(true);
    expect(config.authToken).toBe('a-long-enough-shared-secret');
  });

  it('reports bad RAGFlow values and typos of our names together, by the name the operator set', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig(
        {
          SANDBOX_MAX_MEMORY: '256mb',
          SANDBOX_TIMEOUT: 'soon',
          SANDBOX_POOLSIZE: '2',
          SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '999',
        },
        HOST,
      );
    } catch (caught) {
      error = caught as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.problems.join('\n');
    expect(text).toContain('SANDBOX_MAX_MEMORY: "256mb" is not a memory size');
    expect(text).toContain('SANDBOX_TIMEOUT: "soon" is not a duration');
    expect(text).toContain('SANDBOX_EXECUTOR_MANAGER_POOL_SIZE (as SANDBOX_POOL_SIZE)');
    expect(text).toMatch(/SANDBOX_POOLSIZE/);
  });
});

describe("RAGFlow's values out of bounds", () => {
  // Each is refused at start, by the name the operator set, instead of quietly breaking the service.
  it.each([
    // 36000 minutes overflow Node's timers: every run would "time out" after 1 ms.
    [
      'SANDBOX_TIMEOUT',
      '36000m',
      /^SANDBOX_TIMEOUT \(as SANDBOX_(DEFAULT|MAX)_TIMEOUT_MS\): at most 2147483647 ms/,
    ],
    // 97 TiB is no memory limit at all.
    [
      'SANDBOX_MAX_MEMORY',
      '99999g',
      /^SANDBOX_MAX_MEMORY \(as SANDBOX_(DEFAULT|MAX)_MEMORY_BYTES\): at most this host's memory \(8 GiB\)/,
    ],
    // 40 MiB is enough for a one-shot run, not for a session's kernel.
    [
      'SANDBOX_MAX_MEMORY',
      '40m',
      /^SANDBOX_MAX_MEMORY \(as SANDBOX_MAX_MEMORY_BYTES\): 40 MiB is below the .* a session's kernel needs/,
    ],
  ])('refuses %s=%s, naming it', (key, value, message) => {
    let error: unknown;
    try {
      loadConfig({ ...RAGFLOW_ENV, [key]: value }, HOST);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).toMatch(message);
  });

  it('takes the largest values that still work', () => {
    const config = loadConfig({ ...RAGFLOW_ENV, SANDBOX_TIMEOUT: '35791m', SANDBOX_MAX_MEMORY: '8g' }, HOST);
    expect(config.limitCeilings).toMatchObject({ timeoutMs: 35_791 * 60_000, memoryBytes: 8 * 1024 * MiB });
    // Sessions off: a small memory ceiling is fine for one-shot runs.
    expect(
      loadConfig({ ...RAGFLOW_ENV, SANDBOX_MAX_MEMORY: '40m', SANDBOX_MAX_SESSIONS: '0' }, HOST).limitCeilings
        .memoryBytes,
    ).toBe(40 * MiB);
  });
});

describe('capacity defaults', () => {
  it('derives concurrency from cores, bounded by memory, and the queue from concurrency', () => {
    expect(concurrencyFor({ cpus: 2, memoryBytes: 8 * 1024 ** 3 }, 256 * MiB)).toBe(6);
    expect(concurrencyFor({ cpus: 16, memoryBytes: 4 * 1024 ** 3 }, 256 * MiB)).toBe(8);
    expect(concurrencyFor({ cpus: 1, memoryBytes: 256 * MiB }, 256 * MiB)).toBe(1);
    const config = loadConfig({ SANDBOX_MAX_MEMORY: '1g' }, { cpus: 4, memoryBytes: 6 * 1024 ** 3 });
    expect(config.concurrency).toBe(3);
    expect(config.maxQueued).toBe(12);
    expect(loadConfig({ SANDBOX_CONCURRENCY: '2', SANDBOX_MAX_QUEUED: '5' }, HOST)).toMatchObject({
      concurrency: 2,
      maxQueued: 5,
    });
  });

  it('serves a RAGFlow burst of 5 at once on a 2-core host', () => {
    expect(loadConfig({}, { cpus: 2, memoryBytes: 4 * 1024 ** 3 }).concurrency).toBeGreaterThanOrEqual(5);
  });
});

describe('SANDBOX_TRUSTED_NETWORKS', () => {
  it('takes CIDRs, exclusions and docker network names', () => {
    const config = loadConfig(
      {
        SANDBOX_HOST: '0.0.0.0',
        SANDBOX_TRUSTED_NETWORKS: '172.20.0.0/16, !172.20.0.1, docker:docker_ragflow,fd00::/8',
      },
      HOST,
    );
    expect(config.trustedNetworks).toEqual([
      { kind: 'cidr', address: '172.20.0.0', prefix: 16, family: 'ipv4', exclude: false },
      { kind: 'cidr', address: '172.20.0.1', prefix: 32, family: 'ipv4', exclude: true },
      { kind: 'docker-network', name: 'docker_ragflow' },
      { kind: 'cidr', address: 'fd00::', prefix: 8, family: 'ipv6', exclude: false },
    ]);
    expect(config.authToken).toBeUndefined();
  });

  it('refuses malformed entries, all of them, and a list of exclusions only', () => {
    expect(() => loadConfig({ SANDBOX_TRUSTED_NETWORKS: '10.0.0.0/33,ragflow,docker:' }, HOST)).toThrow(
      /"10\.0\.0\.0\/33", "ragflow", "docker:": not a CIDR/,
    );
    expect(() => loadConfig({ SANDBOX_TRUSTED_NETWORKS: '!10.0.0.1' }, HOST)).toThrow(/only exclusions/);
  });

  it('still needs a token, trusted networks or an explicit opt-out off loopback', () => {
    expect(() => loadConfig({ SANDBOX_HOST: '0.0.0.0' }, HOST)).toThrow(/SANDBOX_TRUSTED_NETWORKS/);
  });
});

describe('SANDBOX_ENABLE_SECCOMP', () => {
  it('moves runsc sandboxes to the runsc runtime registered with --oci-seccomp', () => {
    expect(loadConfig({ SANDBOX_ENABLE_SECCOMP: 'true' }, HOST).sandboxRuntime).toBe('runsc-seccomp');
    expect(loadConfig({}, HOST).sandboxRuntime).toBe('runsc');
    expect(
      loadConfig({ SANDBOX_ENABLE_SECCOMP: 'true', SANDBOX_SECCOMP_RUNTIME: 'runsc-filtered' }, HOST)
        .sandboxRuntime,
    ).toBe('runsc-filtered');
    // runc enforces OCI seccomp itself.
    expect(
      loadConfig(
        { SANDBOX_ENABLE_SECCOMP: 'true', SANDBOX_RUNTIME: 'runc', SANDBOX_ALLOW_NON_GVISOR_RUNTIME: 'true' },
        HOST,
      ).sandboxRuntime,
    ).toBe('runc');
  });
});
