import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { SOURCE_ENTRY, startServiceProcess } from '../../bench/service-process.js';
import { healthBecomes, healthClient } from '../support/grpc-probes.js';
import { eventuallyEmpty, executeGrpc, python, startTestApp } from '../support/test-app.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const workRoots: string[] = [];
afterAll(() => workRoots.forEach((root) => rmSync(root, { recursive: true, force: true })));

/**
 * The real service as a separate process (so it can be SIGKILLed), from its sources, pools off (the
 * one-shot and the session pool) unless a test turns one on: the counts below are of what a test ran.
 */
const spawnService = (env: Record<string, string>) =>
  startServiceProcess({ SANDBOX_POOL_SIZE: '0', SANDBOX_SESSION_POOL_SIZE: '0', ...env }, SOURCE_ENTRY);

const instanceContainers = (instanceId: string) =>
  docker.listContainers({ all: true, filters: { label: [`code-sandbox.instance=${instanceId}`] } });

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
    expect((await instanceContainers(instanceId)).length).toBe(1); // left behind by the crash

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

/** A unix-socket proxy to dockerd that the test can cut and restore: "dockerd down" without stopping it. */
class DockerSocketProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  constructor(readonly path: string) {}

  async up(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection('/var/run/docker.sock');
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
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
    this.server = undefined;
  }
}

describe('docker faults', () => {
  it('dockerd unreachable: readiness false (HTTP and gRPC health), UNAVAILABLE with a clear message, no crash; back: recovers', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'code-sandbox-proxy-'));
    workRoots.push(socketDir);
    const proxy = new DockerSocketProxy(join(socketDir, 'docker.sock'));
    await proxy.up();
    const t = await startTestApp({
      SANDBOX_DOCKER_SOCKET: proxy.path,
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
      expect(refused.error?.details).toMatch(
        /docker is not reachable at .*docker\.sock.*is dockerd running\?/,
      );
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
