import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { credentials, Metadata } from '@grpc/grpc-js';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSandboxService } from '../../src/transport/grpc/sandbox-proto.js';
import { readEnvFile } from '../support/env-file.js';
import { freePort } from '../support/free-port.js';
import { expectRagflowProviderServed, runRagflowProviderClient } from '../support/ragflow-provider.js';
import { containersOfInstance, eventuallyEmpty, executeGrpc, postJson, python } from '../support/test-app.js';

const exec = promisify(execFile);
const docker = new Docker();
const suffix = randomBytes(4).toString('hex');
const PROJECT = `codesandbox-it-${suffix}`;
const RAGFLOW_NETWORK = `codesandbox-it-ragflow-${suffix}`;
const INSTANCE_ID = `compose-it-${suffix}`;
const WORK_ROOT = `/dev/shm/code-sandbox-compose-it-${suffix}`;
const TOKEN = `compose-test-token-${suffix}-0123456789`;
const COMPOSE_FILES = ['-f', 'docker-compose.yml', '-f', 'docker-compose.ragflow.yml'];

const b64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * The compose stack for real: Debian's docker-compose 1.29 builds the service image from
 * docker/service.Dockerfile on the offline-built Node.js base, runs the preflight, starts the service
 * beside a stand-in RAGFlow network, and the service starts its sandboxes on the host's runsc.
 */
describe('docker-compose stack beside RAGFlow', () => {
  let env: NodeJS.ProcessEnv;
  let httpPort: number;
  let grpcPort: number;

  const compose = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    exec('docker-compose', ['-p', PROJECT, ...COMPOSE_FILES, ...args], {
      env: { ...env, ...extraEnv },
      maxBuffer: 64 * 1024 * 1024,
    });

  beforeAll(async () => {
    [httpPort, grpcPort] = [await freePort(), await freePort()];
    const { stdout: nodeImage } = await exec('bash', ['scripts/build-service-base-image.sh', '--print-name']);
    const { stdout: dockerGid } = await exec('stat', ['-c', '%g', '/var/run/docker.sock']);
    // As docs/operating.md tells an operator: .env.example with DOCKER_GID filled in, plus a token for the
    // callers on the host; the rest only keeps this test's stack apart from others on the machine.
    env = {
      ...process.env,
      ...readEnvFile('.env.example'),
      SANDBOX_AUTH_TOKEN: TOKEN,
      DOCKER_GID: dockerGid.trim(),
      SANDBOX_SERVICE_NODE_IMAGE: nodeImage.trim(),
      SANDBOX_SERVICE_IMAGE: 'code-sandbox-service:compose-test',
      SANDBOX_EXECUTOR_MANAGER_PORT: String(httpPort),
      SANDBOX_GRPC_PUBLISHED_PORT: String(grpcPort),
      SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: '1',
      SANDBOX_WORK_ROOT: WORK_ROOT,
      SANDBOX_INSTANCE_ID: INSTANCE_ID,
      RAGFLOW_NETWORK,
    };
    await docker.createNetwork({ Name: RAGFLOW_NETWORK });
    // Builds the service image on the first run (npm ci + tsc inside docker build, about a minute).
    await compose(['up', '-d', '--build']);
    const deadline = Date.now() + 60_000;
    for (;;) {
      // docker-proxy accepts connections before the service listens and holds them: time out.
      const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`, {
        signal: AbortSignal.timeout(2000),
      }).catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) {
        const { stdout } = await compose(['logs', '--no-color']);
        throw new Error(`the compose service never became ready:\n${stdout}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }, 300_000);

  afterAll(async () => {
    if (env) await compose(['down', '--remove-orphans', '--timeout', '30']).catch(() => undefined);
    await docker
      .getNetwork(RAGFLOW_NETWORK)
      .remove()
      .catch(() => undefined);
    await rm(WORK_ROOT, { recursive: true, force: true });
  }, 120_000);

  it('the preflight passed and the service runs as an unprivileged user with no capabilities', async () => {
    const { stdout } = await compose(['logs', '--no-color', 'sandbox-preflight']);
    expect(stdout).toContain('ok   runtime: runsc registered');
    expect(stdout).toContain('preflight: host ready');
    const [service] = await docker.listContainers({
      filters: {
        label: [
          `com.docker.compose.project=${PROJECT}`,
          'com.docker.compose.service=sandbox-executor-manager',
        ],
      },
    });
    const inspected = await docker.getContainer(service!.Id).inspect();
    expect(inspected.Config.User).toBe('10001:10001');
    expect(inspected.HostConfig.CapDrop).toEqual(['ALL']);
    expect(inspected.HostConfig.ReadonlyRootfs).toBe(true);
  });

  it('answers RAGFlow-style /run calls from the host, with the token, in function mode', async () => {
    const run = await postJson(
      `http://127.0.0.1:${httpPort}/run`,
      {
        code_b64: b64('def main(x):\n    print("hi")\n    return x * 2'),
        language: 'python',
        arguments: { x: 21 },
      },
      { authorization: `Bearer ${TOKEN}` },
    );
    expect(run.status).toBe(200);
    expect(run.json).toMatchObject({
      status: 'success',
      stdout: 'hi\n',
      result: { present: true, value: 42 },
    });

    const refused = await postJson(`http://127.0.0.1:${httpPort}/run`, {
      code_b64: b64('print(1)'),
      language: 'python',
    });
    expect(refused.status).toBe(401);
  });

  it('answers ExecuteCode over the published gRPC port', async () => {
    const Service = loadSandboxService();
    const client = new Service(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    try {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${TOKEN}`);
      const run = await executeGrpc(client, python('print("from compose")'), { metadata });
      expect(run.result).toMatchObject({ exit_reason: 'ok', exit_code: 0 });
      expect(run.stdout.toString()).toBe('from compose\n');
    } finally {
      client.close();
    }
  });

  it("serves RAGFlow's provider exactly as it calls: no token, language aliases, main(**args), pandas, axios, a burst of 5", async () => {
    // RAGFlow's side: a container on its network running a client written from its provider's code.
    expectRagflowProviderServed(await runRagflowProviderClient(RAGFLOW_NETWORK));
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toMatch(
      /code_sandbox_auth_admissions_total\{transport="http",path="trusted_network"\} 9/,
    );
  }, 120_000);

  it('still refuses a call without the token on the published port', async () => {
    const refused = await postJson(`http://127.0.0.1:${httpPort}/run`, {
      code_b64: b64('print(1)'),
      language: 'python',
    });
    expect(refused.status).toBe(401);
    // Where such a call comes from, as the service sees it: the gateway of one of its networks.
    const { stdout } = await compose(['logs', '--no-color', 'sandbox-executor-manager']);
    const peers = stdout
      .split('\n')
      .filter((line) => line.includes('call refused'))
      .map((line) => /"peer":"([^"]+)"/.exec(line)?.[1]);
    const gateways = (
      await Promise.all(
        [RAGFLOW_NETWORK, `${PROJECT}_default`].map(async (name) => {
          const info = (await docker.getNetwork(name).inspect()) as {
            IPAM: { Config: { Gateway: string }[] };
          };
          return info.IPAM.Config.map((entry) => entry.Gateway);
        }),
      )
    ).flat();
    expect(peers.length).toBeGreaterThan(0);
    for (const peer of peers) expect(gateways).toContain(peer?.replace(/^::ffff:/, ''));
  });

  it('stops the stack with a clear message when a host prerequisite is missing', async () => {
    const failed = await compose(['run', '--rm', 'sandbox-preflight'], {
      SANDBOX_PYTHON_IMAGE: 'code-sandbox-python:missing',
    })
      .then(() => undefined)
      .catch((error: { code: number; stdout: string }) => error);
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toMatch(/FAIL image:python: code-sandbox-python:missing: .*npm run setup/);

    const refused = await compose(['config'], { DOCKER_GID: '' })
      .then(() => undefined)
      .catch((error: { stderr: string }) => error);
    expect(refused?.stderr).toContain('set DOCKER_GID to the group of the docker socket');
  });

  it('docker-compose down drains the service and leaves no sandbox behind', async () => {
    await compose(['down', '--remove-orphans', '--timeout', '30']);
    expect(await eventuallyEmpty(() => containersOfInstance(docker, INSTANCE_ID))).toEqual([]);
    const leftovers = await docker.listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${PROJECT}`] },
    });
    expect(leftovers).toEqual([]);
  });
});
