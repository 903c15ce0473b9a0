import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import Docker from 'dockerode';
import { pino, type Logger } from 'pino';
import { startApp, type AppOverrides, type RunningApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { LABEL_INSTANCE, LABEL_SANDBOX } from '../../src/sandbox/docker/sandbox-labels.js';
import type { LabelledContainer } from '../../src/sandbox/engine/sandbox-container.js';
import { CHECKPOINT_NOT_PROBED } from '../../src/session/session-service.js';
import { loadSandboxService } from '../../src/transport/grpc/sandbox-proto.js';
import { testContainers, type ContainerdRecord, type TestContainers } from './test-containers.js';

export interface TestApp {
  app: RunningApp;
  config: Config;
  grpc: Client;
  docker: Docker;
  /** The sandbox containers on the engine this app runs on (dockerd or containerd). */
  containers: TestContainers;
  httpUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts the real service on ports 0 with its own instance id and work root. The warm pools (one-shot
 * and session) are off unless `env` turns them on, so each suite controls how many sandboxes run on this small machine.
 * The engine is the one the test run names (SANDBOX_BACKEND in the test process's environment; see
 * `npm run test:containerd`), unless `env` names one.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  logger: Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' }),
  overrides: AppOverrides = {},
): Promise<TestApp> {
  const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-test-'));
  const config = loadConfig({
    SANDBOX_GRPC_PORT: '0',
    SANDBOX_HTTP_PORT: '0',
    SANDBOX_WORK_ROOT: workRoot,
    SANDBOX_POOL_SIZE: '0',
    SANDBOX_SESSION_POOL_SIZE: '0',
    ...testBackend(),
    ...env,
  });
  const app = await startApp(config, logger, overrides);
  await checkpointProbeSettled(`http://127.0.0.1:${app.httpPort}`, config);
  const containers = testContainers(config);
  const ServiceClient = loadSandboxService();
  const grpc = new ServiceClient(`127.0.0.1:${app.grpcPort}`, credentials.createInsecure());
  return {
    app,
    config,
    grpc,
    docker: new Docker({ socketPath: config.dockerSocket }),
    containers,
    httpUrl: `http://127.0.0.1:${app.httpPort}`,
    async stop() {
      grpc.close();
      await app.stop();
      // A graceful stop leaves paused sessions for the next process on this work root; the work root
      // goes now, so there will be none: remove them (their checkpoints go with their containers).
      const docker = new Docker({ socketPath: config.dockerSocket });
      const left = await containersOfInstance(docker, config.instanceId);
      await Promise.all(
        left.map((info) =>
          docker
            .getContainer(info.Id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      );
      await rm(workRoot, { recursive: true, force: true });
    },
  };
}

/**
 * SANDBOX_BACKEND as the test process's environment names it (docker when unset), with what that
 * backend needs: containerd runs no sessions (SANDBOX_MAX_SESSIONS=0; see docs/operating.md).
 */
export function testBackend(): Record<string, string> {
  const backend = process.env.SANDBOX_BACKEND;
  if (!backend) return {};
  return backend === 'containerd'
    ? { SANDBOX_BACKEND: backend, SANDBOX_MAX_SESSIONS: '0' }
    : { SANDBOX_BACKEND: backend };
}

export interface TimedEvent {
  at: number;
  message: Record<string, unknown>;
}

export interface GrpcRun {
  events: TimedEvent[];
  result?: Record<string, unknown>;
  error?: ServiceError;
  trailers?: Metadata;
  stdout: Buffer;
  stderr: Buffer;
  executionId?: string;
  /** The container's `code-sandbox.sandbox` label, from the `started` event. */
  sandboxId?: string;
  warm?: boolean;
}

export interface GrpcRunOptions {
  deadlineMs?: number;
  /** Called for each response as it arrives; return true to cancel the call. */
  onMessage?(message: Record<string, unknown>): boolean | void;
  /** The call is cancelled when this settles. */
  cancelWhen?: Promise<unknown>;
  /** Request metadata, e.g. an authorization token. */
  metadata?: Metadata;
}

/** Calls ExecuteCode and collects the whole response stream, with arrival times. */
export function executeGrpc(
  client: Client,
  request: Record<string, unknown>,
  options: GrpcRunOptions = {},
): Promise<GrpcRun> {
  const run: GrpcRun = { events: [], stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  const callOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
  const method = (client as unknown as Record<string, (...args: unknown[]) => NodeJS.EventEmitter>)
    .ExecuteCode as (
    request: unknown,
    metadata: Metadata,
    options: unknown,
  ) => NodeJS.EventEmitter & { cancel(): void };
  const call = method.call(client, request, options.metadata ?? new Metadata(), callOptions);
  void options.cancelWhen?.finally(() => call.cancel());
  return new Promise((resolve) => {
    call.on('data', (message: Record<string, unknown>) => {
      run.events.push({ at: performance.now(), message });
      const started = message.started as
        { execution_id: string; sandbox_id: string; warm_start: boolean } | undefined;
      if (started) {
        run.executionId = started.execution_id;
        run.sandboxId = started.sandbox_id;
        run.warm = started.warm_start;
      }
      const stdout = message.stdout as { data: Buffer } | undefined;
      const stderr = message.stderr as { data: Buffer } | undefined;
      if (stdout) run.stdout = Buffer.concat([run.stdout, stdout.data]);
      if (stderr) run.stderr = Buffer.concat([run.stderr, stderr.data]);
      if (message.result) run.result = message.result as Record<string, unknown>;
      if (options.onMessage?.(message)) call.cancel();
    });
    call.on('error', (error: ServiceError) => {
      run.error = error;
      run.trailers = error.metadata;
    });
    call.on('status', () => setImmediate(() => resolve(run)));
  });
}

/** Waits until the warm session pool of every language reports a sandbox with its interpreter up. */
export async function waitForWarmSessions(t: TestApp, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    const ready = ['python', 'nodejs'].every((language) =>
      metrics.includes(`code_sandbox_session_pool_idle_sandboxes{language="${language}"} 1`),
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error('the warm session pools did not fill');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Calls a unary sandbox.v1 method (CreateSession, CloseSession…); resolves with the response or the gRPC error. */
export function unaryGrpc(
  client: Client,
  method: string,
  request: Record<string, unknown>,
  metadata: Metadata = new Metadata(),
): Promise<{ response?: Record<string, unknown>; error?: ServiceError }> {
  const call = (client as unknown as Record<string, (...args: unknown[]) => void>)[method]!;
  return new Promise((resolve) => {
    call.call(client, request, metadata, (error: ServiceError | null, response: Record<string, unknown>) =>
      resolve(error ? { error } : { response }),
    );
  });
}

/**
 * Runs `request` (which must keep running, e.g. sleep), inspects its container through docker as soon
 * as `started` names the sandbox, then cancels the call. For checks on a live sandbox's settings.
 */
export async function inspectWhileRunning(
  t: TestApp,
  request: Record<string, unknown>,
): Promise<{ run: GrpcRun; inspected: Docker.ContainerInspectInfo; sandboxId: string }> {
  const { run, inspected, sandboxId } = await inspectSandboxWhileRunning(t, request);
  if (!('HostConfig' in inspected)) throw new Error('inspectWhileRunning is for the docker backend');
  return { run, inspected, sandboxId };
}

/** Like inspectWhileRunning, on either engine: docker's inspect() or containerd's container record. */
export async function inspectSandboxWhileRunning(
  t: TestApp,
  request: Record<string, unknown>,
): Promise<{ run: GrpcRun; inspected: Docker.ContainerInspectInfo | ContainerdRecord; sandboxId: string }> {
  let sandboxId = '';
  let reportStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (reportStarted = resolve));
  const inspection = started.then(() => t.containers.inspect(sandboxId));
  const run = await executeGrpc(t.grpc, request, {
    onMessage: (message) => {
      const startedEvent = message.started as { sandbox_id: string } | undefined;
      if (startedEvent) {
        sandboxId = startedEvent.sandbox_id;
        reportStarted();
      }
    },
    cancelWhen: inspection,
  });
  return { run, inspected: await inspection, sandboxId };
}

/** Python code as a request. */
export function python(code: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { language: 'python', code, ...extra };
}

/** Containers (any state) of one sandbox, on dockerd. */
export async function containersOf(docker: Docker, sandboxId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_SANDBOX}=${sandboxId}`] } });
}

/** Containers (any state) of one sandbox, on the engine the app runs on. */
export function sandboxContainersOf(
  t: Pick<TestApp, 'containers'>,
  sandboxId: string,
): Promise<LabelledContainer[]> {
  return t.containers.withLabel(LABEL_SANDBOX, sandboxId);
}

/**
 * Waits (up to `timeoutMs`) until `list()` is empty and returns what is left. Used sandboxes are
 * removed in the background after the result, so "gone" is checked with a deadline, not at once.
 */
// 30 s: a removal may first wait out a kill that a sandbox without its PID 1 never reports (10 s on
// containerd), on 2 cores shared with the rest of the suite.
export async function eventuallyEmpty<T>(list: () => Promise<T[]>, timeoutMs = 30_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  let remaining = await list();
  while (remaining.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    remaining = await list();
  }
  return remaining;
}

/**
 * With sessions on dockerd, a start probes checkpointing with a container of its own for a second or
 * two. Tests begin after it, so that "no container was started for this call" sees only theirs.
 */
async function checkpointProbeSettled(httpUrl: string, config: Config): Promise<void> {
  if (config.maxSessions === 0 || config.backend !== 'docker') return;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${httpUrl}/readyz`).catch(() => undefined);
    const body = (await response?.json().catch(() => undefined)) as
      { session_checkpoint?: { detail?: string } } | undefined;
    if (body?.session_checkpoint && body.session_checkpoint.detail !== CHECKPOINT_NOT_PROBED) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Containers (any state) of one service instance, on dockerd. */
export async function containersOfInstance(
  docker: Docker,
  instanceId: string,
): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_INSTANCE}=${instanceId}`] } });
}

/** Containers (any state) of one service instance, on the engine the app runs on. */
export function sandboxContainersOfInstance(
  t: Pick<TestApp, 'containers'>,
  instanceId: string,
): Promise<LabelledContainer[]> {
  return t.containers.withLabel(LABEL_INSTANCE, instanceId);
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    json: (await response.json()) as Record<string, unknown>,
  };
}
