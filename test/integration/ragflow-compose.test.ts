import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readSandboxImages } from '../../src/config/sandbox-images.js';
import { expectRagflowProviderServed, runRagflowProviderClient } from '../support/ragflow-provider.js';
import { freePort } from '../support/free-port.js';
import { postJson } from '../support/test-app.js';

const exec = promisify(execFile);
const docker = new Docker();
const PROJECT = `codesandbox-it-rf-${randomBytes(4).toString('hex')}`;
const SERVICE_IMAGE = 'code-sandbox-service:compose-test';
const WORK_ROOT = `/dev/shm/${PROJECT}`;

/**
 * deploy/ragflow/docker-compose.override.yml dropped next to a stand-in of RAGFlow's own compose
 * (test/fixtures/ragflow: its sandbox-executor-manager service and .env), started the way RAGFlow's
 * docs start the sandbox: `--profile sandbox up`, RAGFlow's whole .env reaching the service.
 */
describe("inside RAGFlow's compose (override file)", () => {
  let ragflowDir: string;
  let env: NodeJS.ProcessEnv;
  let port: number;
  const compose = (args: string[]) =>
    exec(
      'docker-compose',
      ['-f', 'docker-compose-base.yml', '-f', 'docker-compose.override.yml', '--profile', 'sandbox', ...args],
      { cwd: ragflowDir, env, maxBuffer: 64 * 1024 * 1024 },
    );

  beforeAll(async () => {
    port = await freePort();
    ragflowDir = await mkdtemp(join(tmpdir(), 'ragflow-docker-'));
    await copyFile(
      'test/fixtures/ragflow/docker-compose-base.yml',
      join(ragflowDir, 'docker-compose-base.yml'),
    );
    await copyFile('test/fixtures/ragflow/env', join(ragflowDir, '.env'));
    await copyFile(
      'deploy/ragflow/docker-compose.override.yml',
      join(ragflowDir, 'docker-compose.override.yml'),
    );
    // The service image: the same build as compose.test.ts (docker's layer cache makes it quick).
    const { stdout: nodeImage } = await exec('bash', ['scripts/build-service-base-image.sh', '--print-name']);
    const { stdout: dockerGid } = await exec('stat', ['-c', '%g', '/var/run/docker.sock']);
    await exec('docker-compose', ['-p', PROJECT, 'build', 'sandbox-executor-manager'], {
      env: {
        ...process.env,
        DOCKER_GID: dockerGid.trim(),
        SANDBOX_SERVICE_NODE_IMAGE: nodeImage.trim(),
        SANDBOX_SERVICE_IMAGE: SERVICE_IMAGE,
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    // The override's own image defaults, as an operator gets them: nothing of ours overrides them.
    const inherited = { ...process.env };
    delete inherited.CODE_SANDBOX_PYTHON_IMAGE;
    delete inherited.CODE_SANDBOX_NODEJS_IMAGE;
    env = {
      ...inherited,
      COMPOSE_PROJECT_NAME: PROJECT,
      CODE_SANDBOX_IMAGE: SERVICE_IMAGE,
      SANDBOX_EXECUTOR_MANAGER_PORT: String(port),
      CODE_SANDBOX_WORK_ROOT: WORK_ROOT,
      // RAGFlow's own switch, end to end: our profile on the runsc-seccomp runtime.
      SANDBOX_ENABLE_SECCOMP: 'true',
    };
    await compose(['up', '-d']);
  }, 300_000);

  afterAll(async () => {
    if (env) await compose(['down', '--remove-orphans', '--timeout', '30']).catch(() => undefined);
    if (ragflowDir) await rm(ragflowDir, { recursive: true, force: true });
    await rm(WORK_ROOT, { recursive: true, force: true });
  }, 120_000);

  it("becomes healthy by the override's healthcheck and reads RAGFlow's environment", async () => {
    const [service] = await docker.listContainers({
      filters: { label: [`com.docker.compose.project=${PROJECT}`] },
    });
    const container = docker.getContainer(service!.Id);
    const deadline = Date.now() + 90_000;
    let health = '';
    while (health !== 'healthy' && Date.now() < deadline) {
      health = (await container.inspect()).State.Health?.Status ?? '';
      if (health !== 'healthy') await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const { stdout: logs } = await compose(['logs', '--no-color', 'sandbox-executor-manager']);
    expect(health, logs).toBe('healthy');
    const inspected = await container.inspect();
    // The images setup builds (this machine has no others), and the user docs/operating.md states.
    expect(inspected.Config.Env).toEqual(
      expect.arrayContaining([
        `SANDBOX_PYTHON_IMAGE=${readSandboxImages().python}`,
        `SANDBOX_NODEJS_IMAGE=${readSandboxImages().nodejs}`,
      ]),
    );
    expect(inspected.Config.User).toBe(OVERRIDE_USER);
    expect(inspected.HostConfig.Privileged).toBe(false);
    expect(inspected.HostConfig.CapDrop).toEqual(['ALL']);
    expect(logs).toContain('RAGFlow executor-manager variables: mapped SANDBOX_MAX_MEMORY');
    expect(logs).toMatch(
      /ignored SANDBOX_ENABLED, SANDBOX_EXECUTOR_MANAGER_IMAGE, SANDBOX_EXECUTOR_MANAGER_PORT/,
    );
    expect(logs).toContain('"runtime":"runsc-seccomp"');
  });

  it("serves RAGFlow's provider from RAGFlow's network without a token", async () => {
    expectRagflowProviderServed(await runRagflowProviderClient(`${PROJECT}_ragflow`));
  }, 120_000);

  it('refuses a call without a token on the port RAGFlow publishes', async () => {
    const refused = await postJson(`http://127.0.0.1:${port}/run`, {
      code_b64: Buffer.from('print(1)').toString('base64'),
      language: 'python',
    });
    expect(refused.status).toBe(401);
  });

  it("fails its healthcheck while a sandbox image is missing (RAGFlow's /healthz would not)", async () => {
    // The operator's other way to name an image; a tag no build produces.
    env = { ...env, CODE_SANDBOX_NODEJS_IMAGE: 'code-sandbox-nodejs:missing' };
    await compose(['up', '-d']);
    const container = await serviceContainer();
    expect((await container.inspect()).Config.Env).toContain(
      'SANDBOX_NODEJS_IMAGE=code-sandbox-nodejs:missing',
    );
    // Once it serves HTTP (/healthz answers), the healthcheck's own command fails: /readyz is 503.
    const deadline = Date.now() + 60_000;
    while ((await execIn(container, ['node', '-e', PROBE('/healthz')])).exitCode !== 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const healthcheck = (await container.inspect()).Config.Healthcheck?.Test ?? [];
    expect(healthcheck[0]).toBe('CMD');
    expect((await execIn(container, healthcheck.slice(1))).exitCode).toBe(1);
    const readiness = await execIn(container, ['node', '-e', PRINT('/readyz')]);
    expect(JSON.parse(readiness.output)).toMatchObject({
      status: 'not ready',
      checks: expect.arrayContaining([expect.objectContaining({ name: 'image:nodejs', ok: false })]),
    });
  }, 120_000);

  async function serviceContainer(): Promise<Docker.Container> {
    const [service] = await docker.listContainers({
      filters: { label: [`com.docker.compose.project=${PROJECT}`] },
    });
    return docker.getContainer(service!.Id);
  }
});

/** The override's `user` (docs/operating.md states the same; test/unit/ragflow-override.test.ts). */
const OVERRIDE_USER = (
  parse(readFileSync('deploy/ragflow/docker-compose.override.yml', 'utf8')) as {
    services: Record<string, { user: string }>;
  }
).services['sandbox-executor-manager']!.user;

/** node -e code: exit 0 if GET path answers 2xx. */
const PROBE = (path: string) =>
  `fetch('http://127.0.0.1:9385${path}').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
/** node -e code: print GET path's body. */
const PRINT = (path: string) =>
  `fetch('http://127.0.0.1:9385${path}').then(r => r.text()).then(t => process.stdout.write(t))`;

/** Runs a command in a container; its exit code and stdout. */
async function execIn(
  container: Docker.Container,
  cmd: string[],
): Promise<{ exitCode: number; output: string }> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  docker.modem.demuxStream(stream, stdout, new PassThrough());
  await new Promise((resolve) => stream.on('end', resolve));
  const { ExitCode } = await exec.inspect();
  return { exitCode: ExitCode ?? -1, output: Buffer.concat(chunks).toString() };
}
