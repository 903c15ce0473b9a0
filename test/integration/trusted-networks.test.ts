import { randomBytes } from 'node:crypto';
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import Docker from 'dockerode';
import pino from 'pino';
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeGrpc, postJson, python, startTestApp, type TestApp } from '../support/test-app.js';

const TOKEN = 'trusted-networks-test-token-0123';
const run = (t: TestApp, headers: Record<string, string> = {}) =>
  postJson(
    `${t.httpUrl}/run`,
    { code_b64: Buffer.from('print(1)').toString('base64'), language: 'python' },
    headers,
  );

async function admissions(t: TestApp): Promise<string[]> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith('code_sandbox_auth_admissions_total{'));
}

/** Tokenless callers from a trusted source, token for everyone else, on HTTP and gRPC alike. */
describe('SANDBOX_TRUSTED_NETWORKS', () => {
  const docker = new Docker();
  const network = `codesandbox-it-trust-${randomBytes(4).toString('hex')}`;
  let loopbackTrusted: TestApp;
  let dockerTrusted: TestApp;

  beforeAll(async () => {
    await docker.createNetwork({ Name: network });
    // The test's client is 127.0.0.1: trusted in one service, not in the other (which trusts only
    // a docker network's subnet, as our compose file does with RAGFlow's).
    [loopbackTrusted, dockerTrusted] = await Promise.all([
      startTestApp({ SANDBOX_AUTH_TOKEN: TOKEN, SANDBOX_TRUSTED_NETWORKS: '127.0.0.0/8' }),
      startTestApp({ SANDBOX_AUTH_TOKEN: TOKEN, SANDBOX_TRUSTED_NETWORKS: `docker:${network}` }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([loopbackTrusted?.stop(), dockerTrusted?.stop()]);
    await docker
      .getNetwork(network)
      .remove()
      .catch(() => undefined);
  });

  it('admits a trusted source without a token over HTTP and gRPC, and counts the path', async () => {
    expect((await run(loopbackTrusted)).json).toMatchObject({ status: 'success', stdout: '1\n' });
    const grpcRun = await executeGrpc(loopbackTrusted.grpc, python('print(2)'));
    expect(grpcRun.stdout.toString()).toBe('2\n');
    expect((await run(loopbackTrusted, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect(await admissions(loopbackTrusted)).toEqual(
      expect.arrayContaining([
        'code_sandbox_auth_admissions_total{transport="http",path="trusted_network"} 1',
        'code_sandbox_auth_admissions_total{transport="grpc",path="trusted_network"} 1',
        'code_sandbox_auth_admissions_total{transport="http",path="token"} 1',
      ]),
    );
  });

  it('refuses a wrong token even from a trusted source', async () => {
    expect((await run(loopbackTrusted, { 'x-sandbox-token': 'not-the-token' })).status).toBe(401);
  });

  it('resolves a docker network to its subnet and still wants the token from outside it', async () => {
    expect((await run(dockerTrusted)).status).toBe(401);
    const metadata = new Metadata();
    const refused = await executeGrpc(dockerTrusted.grpc, python('print(3)'), { metadata });
    expect(refused.error?.code).toBe(grpcStatus.UNAUTHENTICATED);
    metadata.set('authorization', `Bearer ${TOKEN}`);
    expect((await executeGrpc(dockerTrusted.grpc, python('print(3)'), { metadata })).stdout.toString()).toBe(
      '3\n',
    );
  });

  it('refuses to start when a trusted docker network does not exist', async () => {
    const config = loadConfig({
      SANDBOX_TRUSTED_NETWORKS: 'docker:codesandbox-no-such-network',
      SANDBOX_WORK_ROOT: '/nonexistent/never-created',
    });
    await expect(startApp(config, pino({ level: 'silent' }))).rejects.toThrow(
      /docker network "codesandbox-no-such-network"/,
    );
  });
});
