import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, sessionsPerCallerDefault } from '../../src/config/config.js';
import { readEnvFile } from '../support/env-file.js';

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
      images: { python: 'code-sandbox-python:4', nodejs: 'code-sandbox-nodejs:2' },
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
    const row = readFileSync('README.md', 'utf8')
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
});
