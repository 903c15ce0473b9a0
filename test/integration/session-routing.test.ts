import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSandboxService } from '../../src/transport/grpc/sandbox-proto.js';
import { freePort } from '../support/free-port.js';
import { executeGrpc, postJson, startTestApp, type TestApp } from '../support/test-app.js';

// Two replicas behind Debian's nginx with the shipped deploy/nginx/code-sandbox.conf, unchanged but
// for its listen ports.
const suffix = randomBytes(3).toString('hex');
const OWNERS = [`replica-a-${suffix}`, `replica-b-${suffix}`];
let replicas: TestApp[] = [];
let nginx: ChildProcess;
let nginxDir: string;
let httpUrl: string;
let grpc: Client;

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket.end() !== undefined));
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nginx is not listening on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The shipped config plus the three small files that say where these two replicas are. */
function writeNginxConfig(httpPort: number, grpcPort: number): void {
  const shipped = readFileSync('deploy/nginx/code-sandbox.conf', 'utf8')
    .replace('listen 9385;', `listen 127.0.0.1:${httpPort};`)
    .replace('listen 50051 http2;', `listen 127.0.0.1:${grpcPort} http2;`);
  mkdirSync(join(nginxDir, 'code-sandbox'));
  writeFileSync(join(nginxDir, 'code-sandbox.conf'), shipped);
  const servers = (port: (t: TestApp) => number) =>
    replicas.map((replica) => `    server 127.0.0.1:${port(replica)};`).join('\n');
  writeFileSync(
    join(nginxDir, 'code-sandbox', 'upstreams.conf'),
    `upstream code_sandbox_http {\n${servers((r) => r.app.httpPort)}\n}\n` +
      `upstream code_sandbox_grpc {\n${servers((r) => r.app.grpcPort)}\n}\n`,
  );
  const owners = (port: (t: TestApp) => number) =>
    replicas.map((replica, index) => `${OWNERS[index]} 127.0.0.1:${port(replica)};`).join('\n');
  writeFileSync(
    join(nginxDir, 'code-sandbox', 'owners-http.map'),
    owners((r) => r.app.httpPort),
  );
  writeFileSync(
    join(nginxDir, 'code-sandbox', 'owners-grpc.map'),
    owners((r) => r.app.grpcPort),
  );
  const temp = (name: string) => `${name}_temp_path ${join(nginxDir, name)};`;
  writeFileSync(
    join(nginxDir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(nginxDir, 'nginx.pid')};`,
      `error_log ${join(nginxDir, 'error.log')} warn;`,
      'events {}',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `  ${temp(name)}`),
      '  include code-sandbox.conf;',
      '}',
    ].join('\n'),
  );
}

beforeAll(async () => {
  replicas = [
    await startTestApp({ SANDBOX_INSTANCE_ID: OWNERS[0]! }),
    await startTestApp({ SANDBOX_INSTANCE_ID: OWNERS[1]! }),
  ];
  nginxDir = mkdtempSync(join(tmpdir(), 'code-sandbox-nginx-'));
  chmodSync(nginxDir, 0o777); // nginx's workers run as another user and write temp files here
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  writeNginxConfig(httpPort, grpcPort);
  nginx = spawn('/usr/sbin/nginx', ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')], {
    stdio: 'inherit',
  });
  await waitForPort(httpPort);
  await waitForPort(grpcPort);
  httpUrl = `http://127.0.0.1:${httpPort}`;
  grpc = new (loadSandboxService())(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
});
afterAll(async () => {
  grpc?.close();
  nginx?.kill('SIGTERM');
  await Promise.all(replicas.map((replica) => replica.stop()));
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
});

function unary(method: string, request: Record<string, unknown>, metadata: Metadata) {
  const call = (grpc as unknown as Record<string, (...args: unknown[]) => void>)[method]!;
  return new Promise<{ response?: Record<string, unknown>; error?: ServiceError }>((resolve) =>
    call.call(grpc, request, metadata, (error: ServiceError | null, response: Record<string, unknown>) =>
      resolve(error ? { error } : { response }),
    ),
  );
}

describe('two replicas behind nginx', () => {
  it('routes every call of a session to the replica that owns it, over HTTP and gRPC', async () => {
    // CreateSession goes to any replica (round robin): two of them land on both.
    const created = await Promise.all(
      [0, 1].map(() => postJson(`${httpUrl}/v1/sessions`, { language: 'python' })),
    );
    const sessionIds = created.map((response) => response.json.session_id as string);
    const owners = sessionIds.map((id) => id.slice(0, id.lastIndexOf('.')));
    expect(owners.sort()).toEqual([...OWNERS].sort());

    for (const sessionId of sessionIds) {
      const owner = sessionId.slice(0, sessionId.lastIndexOf('.'));
      const metadata = new Metadata();
      metadata.set('sandbox-session-id', sessionId);
      // State set over HTTP is there over gRPC and again over HTTP: the same kernel every time.
      const set = await postJson(`${httpUrl}/v1/sessions/${sessionId}/execute`, {
        code: `owner = "${owner}"`,
      });
      expect(set.json.exit_reason).toBe('ok');
      const read = await executeGrpc(grpc, { session_id: sessionId, code: 'owner' }, { metadata });
      const value = read.events.find((event) => event.message.display)?.message.display as {
        data: Record<string, Buffer>;
      };
      expect(value.data['text/plain']?.toString()).toBe(`'${owner}'`);
      const put = await fetch(`${httpUrl}/v1/sessions/${sessionId}/files/owner.txt`, {
        method: 'PUT',
        body: owner,
      });
      expect(put.status).toBe(200);
      const listing = await unary('ListFiles', { session_id: sessionId }, metadata);
      expect(listing.response?.files).toEqual([{ path: 'owner.txt', size: owner.length }]);
      expect(await (await fetch(`${httpUrl}/v1/sessions/${sessionId}/files/owner.txt`)).text()).toBe(owner);

      // Straight to the other replica, the session does not exist: the proxy's routing is what works.
      const other = replicas[OWNERS.indexOf(owner) === 0 ? 1 : 0]!;
      const wrong = await postJson(`${other.httpUrl}/v1/sessions/${sessionId}/execute`, { code: 'owner' });
      expect(wrong.status).toBe(404);

      expect((await unary('CloseSession', { session_id: sessionId }, metadata)).error).toBeUndefined();
      const gone = await postJson(`${httpUrl}/v1/sessions/${sessionId}/execute`, { code: 'owner' });
      expect(gone.status).toBe(404);
    }

    // Calls without a session still reach a replica.
    const oneShot = await postJson(`${httpUrl}/v1/execute`, { language: 'python', code: 'print(6 * 7)' });
    expect(oneShot.json).toMatchObject({ exit_reason: 'ok', stdout: '42\n' });
  });
});
