import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client } from '@grpc/grpc-js';
import type Docker from 'dockerode';
import { LANGUAGE_RUNTIMES } from '../src/sandbox/docker/language-runtimes.js';

// What the benchmark does to the service and to Docker: one call, the baselines, and waiting for quiet.
const run = promisify(execFile);
export const HELLO_PYTHON = 'print("hello")';
export const PANDAS_PYTHON = 'import pandas\nprint(pandas.__version__)';

export interface ExecutionSample {
  warm: boolean;
  /** As the client saw it, ms after the call was made: the `started` event, the result, the call's end. */
  startedMs: number;
  resultMs: number;
  endMs: number;
  /** The service's own figures, from the result. */
  queueWaitMs: number;
  durationMs: number;
  totalMs: number;
}

interface ExecuteMessage {
  started?: { warm_start: boolean };
  result?: {
    exit_reason: string;
    detail: string;
    queue_wait_ms: string;
    duration_ms: string;
    total_ms: string;
  };
}

/** One ExecuteCode call to its end; rejects unless the program exited ok. */
export function executeCode(
  client: Client,
  code: string,
  extra: Record<string, unknown> = {},
): Promise<ExecutionSample> {
  return new Promise((resolve, reject) => {
    const begin = performance.now();
    const call = (client as unknown as { ExecuteCode(request: unknown): NodeJS.EventEmitter }).ExecuteCode({
      language: 'python',
      code,
      ...extra,
    });
    let warm = false;
    let startedMs = 0;
    let resultMs = 0;
    let result: ExecuteMessage['result'];
    call.on('data', (message: ExecuteMessage) => {
      if (message.started) {
        warm = message.started.warm_start;
        startedMs = performance.now() - begin;
      }
      if (message.result) {
        resultMs = performance.now() - begin;
        result = message.result;
      }
    });
    call.on('error', reject);
    call.on('end', () => {
      if (result?.exit_reason !== 'ok') {
        reject(new Error(`execution did not exit ok: ${result?.exit_reason} ${result?.detail}`));
        return;
      }
      resolve({
        warm,
        startedMs,
        resultMs,
        endMs: performance.now() - begin,
        queueWaitMs: Number(result.queue_wait_ms),
        durationMs: Number(result.duration_ms),
        totalMs: Number(result.total_ms),
      });
    });
  });
}

/** Baseline 1: what a naive service does per request, a plain `docker run --rm --runtime=runsc`. */
export async function dockerRun(image: string, code: string): Promise<void> {
  await run('/usr/bin/docker', [
    'run',
    '--rm',
    '--runtime=runsc',
    '--network=none',
    '--read-only',
    '--cap-drop=ALL',
    '--user=65534:65534',
    image,
    'python3',
    '-c',
    code,
  ]);
}

/** Baseline 2: raw runsc container churn through the Docker API: create, start, wait, remove. */
export async function rawChurn(docker: Docker, image: string, code: string): Promise<void> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['python3', '-c', code],
    User: '65534:65534',
    Labels: { 'code-sandbox.bench': 'churn' },
    HostConfig: {
      Runtime: 'runsc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      LogConfig: { Type: 'none', Config: {} },
    },
  });
  try {
    await container.start();
    await container.wait();
  } finally {
    await container.remove({ force: true });
  }
}

/** Running containers of one service instance (its idle warm sandboxes, between bursts). */
export async function runningSandboxes(
  docker: Docker,
  instanceId: string,
  image?: string,
): Promise<Docker.ContainerInfo[]> {
  const running = await docker.listContainers({
    filters: { label: [`code-sandbox.instance=${instanceId}`], status: ['running'] },
  });
  return image ? running.filter((info) => info.Image === image) : running;
}

/** The session launchers' scripts: PID 1 of a session sandbox runs one of them. */
const SESSION_LAUNCHER_SCRIPTS = Object.values(LANGUAGE_RUNTIMES).flatMap(({ sessionLauncher }) =>
  sessionLauncher.filter((part) => part.startsWith('/')),
);

/** A session sandbox: at the default configuration the session pool keeps some idle, besides the one-shot pool. */
function isSessionSandbox(info: Docker.ContainerInfo): boolean {
  return SESSION_LAUNCHER_SCRIPTS.some((script) => info.Command.includes(script));
}

/**
 * Waits until the service is quiet: every warm pool full (per /readyz) and no used sandbox still
 * being removed (the instance has no one-shot containers beyond its idle pool; the session pool's
 * idle sandboxes, which the default configuration also keeps, are not counted). Latency measured after this
 * is that of a warm claim on an otherwise idle machine; the sustained phase measures the rest.
 */
export async function waitForQuietService(
  docker: Docker,
  httpPort: number,
  instanceId: string,
): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    const { checks } = (await response.json()) as { checks: { name: string; detail: string }[] };
    const pools = checks.filter((check) => check.name.startsWith('pool:'));
    const idle = pools.reduce((sum, pool) => sum + Number(/^(\d+)\//.exec(pool.detail)?.[1] ?? 0), 0);
    const full = pools.every((pool) => /^(\d+)\/\1 ready$/.test(pool.detail));
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`code-sandbox.instance=${instanceId}`] },
    });
    const oneShot = containers.filter((info) => !isSessionSandbox(info));
    if (full && oneShot.length === idle) return;
    if (Date.now() > deadline)
      throw new Error(
        `service did not settle: ${JSON.stringify(pools)}, ${oneShot.length} one-shot containers`,
      );
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Memory used by an idle pooled sandbox of `image` (its cgroup; median over the idle ones), in MiB. */
export async function idleSandboxMemoryMb(
  docker: Docker,
  instanceId: string,
  image: string,
): Promise<number> {
  const usages: number[] = [];
  for (const info of await runningSandboxes(docker, instanceId, image)) {
    const stats = (await docker
      .getContainer(info.Id)
      .stats({ stream: false })
      .catch(() => ({}))) as { memory_stats?: { usage?: number } }; // claimed and removed meanwhile
    if (stats.memory_stats?.usage) usages.push(stats.memory_stats.usage / 1024 / 1024);
  }
  usages.sort((a, b) => a - b);
  const median = usages[Math.floor(usages.length / 2)];
  return median === undefined ? Number.NaN : Math.round(median * 10) / 10;
}

/** How the service's sandbox claims went so far, from its own histogram (code_sandbox_sandbox_start_seconds). */
export interface ClaimCounts {
  /** Pool claims that found an idle sandbox: served within the first bucket (10 ms). */
  ready: number;
  /** Pool claims in all, including those that waited for a sandbox already starting. */
  warm: number;
  /** Cold starts. */
  cold: number;
}

export async function claimCounts(httpPort: number): Promise<ClaimCounts> {
  const lines = (await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()).split('\n');
  // One sample line of the histogram whose name ends in `suffix` and whose labels include all of `labels`.
  const sample = (suffix: string, ...labels: string[]) => {
    const line = lines.find(
      (candidate) =>
        candidate.startsWith(`code_sandbox_sandbox_start_seconds${suffix}{`) &&
        labels.every((label) => candidate.includes(label)),
    );
    return Number(line?.split(' ').at(-1) ?? 0);
  };
  return {
    ready: sample('_bucket', 'le="0.01"', 'warm="true"'),
    warm: sample('_count', 'warm="true"'),
    cold: sample('_count', 'warm="false"'),
  };
}
