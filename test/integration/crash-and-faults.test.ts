import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { SOURCE_ENTRY, startServiceProcess } from '../../bench/service-process.js';
import { healthBecomes, healthClient } from '../support/grpc-probes.js';
import { loadConfig } from '../../src/config/config.js';
import { LABEL_SANDBOX } from '../../src/sandbox/docker/sandbox-labels.js';
import { CHECKPOINT_PROBE_PREFIX } from '../../src/sandbox/lifecycle/checkpoint-probe.js';
import { testContainers } from '../support/test-containers.js';
import { eventuallyEmpty, executeGrpc, python, startTestApp, testBackend } from '../support/test-app.js';

// The engine this run tests (SANDBOX_BACKEND), which the spawned services inherit from this process.
const config = loadConfig(testBackend());
const containers = testContainers(config);
const workRoots: string[] = [];
afterAll(() => {
  containers.close();
  workRoots.forEach((root) => rmSync(root, { recursive: true, force: true }));
});

/**
 * The real service as a separate process (so it can be SIGKILLed), from its sources, pools off (the
 * one-shot and the session pool) unless a test turns one on: the counts below are of what a test ran.
 */
const spawnService = (env: Record<string, string>) =>
  startServiceProcess({ SANDBOX_POOL_SIZE: '0', SANDBOX_SESSION_POOL_SIZE: '0', ...env }, SOURCE_ENTRY);

const instanceContainers = (instanceId: string) => containers.withLabel('code-sandbox.instance', instanceId);

describe('crash safety', () => {
  it('SIGKILL mid-run leaves a labelled container; the restarted service reaps it at boot', async () => {
    const instanceId = `crash-test-${process.pid}`;
    const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-crash-'));
    workRoots.push(workRoot);
    const env = { SANDBOX_INSTANCE_ID: instanceId, SANDBOX_WORK_ROOT: workRoot };
    const first = await spawnService(env);
    const client = first.client;
    let killed!: () => void;
    const running = new Promise<void>((resolve) => (killed = resolve));
    void executeGrpc(client, python('import time\nprint("busy", flush=True)\ntime.sleep(60)'), {
      onMessage: (message) => {
        if (message.stdout) killed();
      },
    });
    await running;
    first.child.kill('SIGKILL');
    await first.exited;
    client.close();
    // Left behind by the crash: the execution's container (and the start-up checkpoint probe's, if
    // the kill caught it too: the restart must reap that one as well).
    const executions = (await instanceContainers(instanceId)).filter(
      (container) => !container.labels[LABEL_SANDBOX]?.startsWith(CHECKPOINT_PROBE_PREFIX),
    );
    expect(executions.length).toBe(1);

    const second = await spawnService(env);
    try {
      expect(await eventuallyEmpty(() => instanceContainers(instanceId), 10_000)).toEqual([]);
    } finally {
      await second.stop();
    }
  });

  it('SIGKILL, then a plain restart (default config: a new random instance id) leaves no container and no job directory', async () => {
    const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-crash-'));
    workRoots.push(workRoot);
    // Pool on: pre-started sandboxes (and their job directories) are left behind too.
    const first = await spawnService({ SANDBOX_WORK_ROOT: workRoot, SANDBOX_POOL_SIZE: '1' });
    let busy!: () => void;
    const running = new Promise<void>((resolve) => (busy = resolve));
    void executeGrpc(first.client, python('import time\nprint("busy", flush=True)\ntime.sleep(60)'), {
      onMessage: (message) => {
        if (message.stdout) busy();
      },
    });
    await running;
    first.child.kill('SIGKILL');
    await first.exited;
    first.client.close();
    const jobDirs = () => readdir(join(workRoot, 'jobs', first.instanceId)).catch(() => []);
    expect((await instanceContainers(first.instanceId)).length).toBeGreaterThanOrEqual(1);
    expect((await jobDirs()).length).toBeGreaterThanOrEqual(1);

    const second = await spawnService({ SANDBOX_WORK_ROOT: workRoot });
    try {
      expect(second.instanceId).not.toBe(first.instanceId);
      // Reaped at boot, before the restarted service listens: no waiting for expiry labels.
      expect(await instanceContainers(first.instanceId)).toEqual([]);
      expect(await jobDirs()).toEqual([]);
      expect(await readdir(join(workRoot, 'instances'))).toEqual([`${second.instanceId}.sock`]);
    } finally {
      await second.stop();
    }
    expect(await instanceContainers(second.instanceId)).toEqual([]);
    expect(await readdir(join(workRoot, 'jobs'))).toEqual([]);
  });

  it('graceful shutdown on SIGTERM finishes in-flight work within the grace period and removes everything', async () => {
    const instanceId = `drain-test-${process.pid}`;
    const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-drain-'));
    workRoots.push(workRoot);
    const service = await spawnService({
      SANDBOX_INSTANCE_ID: instanceId,
      SANDBOX_WORK_ROOT: workRoot,
      SANDBOX_SHUTDOWN_GRACE_MS: '5000',
    });
    const client = service.client;
    let busy!: () => void;
    const started = new Promise<void>((resolve) => (busy = resolve));
    const run = executeGrpc(
      client,
      python('import time\nprint("a", flush=True)\ntime.sleep(1)\nprint("b")'),
      {
        onMessage: (message) => {
          if (message.stdout) busy();
        },
      },
    );
    await started;
    service.child.kill('SIGTERM');
    const finished = await run;
    const exitCode = await service.exited;
    client.close();
    expect(finished.result).toMatchObject({ exit_reason: 'ok' });
    expect(finished.stdout.toString()).toBe('a\nb\n');
    expect(exitCode).toBe(0);
    expect(await instanceContainers(instanceId)).toEqual([]);
  });
});

/**
 * A unix-socket proxy to the engine (dockerd or containerd) that the test can cut and restore: "engine
 * down" without stopping it.
 */
class EngineSocketProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly path: string,
    private readonly upstreamPath: string,
  ) {}

  async up(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.upstreamPath);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.path, resolve));
  }

  async down(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    // Resolves at once when already down (a failed assertion's cleanup may call it a second time).
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

/** Per engine: its socket, the variable naming it, and what a caller is told while it is unreachable. */
const ENGINE = {
  docker: {
    socket: config.dockerSocket,
    variable: 'SANDBOX_DOCKER_SOCKET',
    unreachable: /docker is not reachable at .*engine\.sock.*is dockerd running\?/,
  },
  containerd: {
    socket: config.containerd.socket,
    variable: 'SANDBOX_CONTAINERD_SOCKET',
    unreachable: /containerd is not reachable at .*engine\.sock.*is containerd running\?/,
  },
}[config.backend];

describe('engine faults', () => {
  it('engine unreachable: readiness false (HTTP and gRPC health), UNAVAILABLE with a clear message, no crash; back: recovers', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'code-sandbox-proxy-'));
    workRoots.push(socketDir);
    const proxy = new EngineSocketProxy(join(socketDir, 'engine.sock'), ENGINE.socket);
    await proxy.up();
    const t = await startTestApp({
      [ENGINE.variable]: proxy.path,
      SANDBOX_HEALTH_CHECK_INTERVAL_MS: '200',
    });
    const health = healthClient(t.app.grpcPort);
    try {
      await healthBecomes(health, '', 'SERVING');
      expect((await executeGrpc(t.grpc, python('print(1)'))).result?.exit_reason).toBe('ok');

      await proxy.down();
      const ready = await fetch(`${t.httpUrl}/readyz`);
      expect(ready.status).toBe(503);
      const refused = await executeGrpc(t.grpc, python('print(1)'));
      expect(refused.error?.code).toBe(status.UNAVAILABLE);
      expect(refused.error?.details).toMatch(ENGINE.unreachable);
      expect((await fetch(`${t.httpUrl}/healthz`)).status).toBe(200); // alive, just not ready
      await healthBecomes(health, 'sandbox.v1.SandboxService', 'NOT_SERVING');

      await proxy.up();
      expect((await fetch(`${t.httpUrl}/readyz`)).status).toBe(200);
      await healthBecomes(health, 'sandbox.v1.SandboxService', 'SERVING');
      const recovered = await executeGrpc(t.grpc, python('print("back")'));
      expect(recovered.stdout.toString()).toBe('back\n');
    } finally {
      health.close();
      await t.stop();
      await proxy.down();
    }
  });

  it('a missing sandbox image is reported as UNAVAILABLE naming the image, not a hang, and counted', async () => {
    const t = await startTestApp({ SANDBOX_NODEJS_IMAGE: 'code-sandbox-nodejs:missing' });
    try {
      const run = await executeGrpc(t.grpc, { language: 'nodejs', code: 'console.log(1)' });
      expect(run.error?.code).toBe(status.UNAVAILABLE);
      expect(run.error?.details).toContain('sandbox image "code-sandbox-nodejs:missing" is not present');
      expect((await fetch(`${t.httpUrl}/readyz`)).status).toBe(503);
      const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
      expect(metrics).toContain('code_sandbox_docker_errors_total{operation="start"} 1');
      expect(metrics).toContain('code_sandbox_refusals_total{reason="unavailable"} 1');
    } finally {
      await t.stop();
    }
  });
});
