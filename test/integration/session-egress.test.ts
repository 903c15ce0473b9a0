import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturedLog } from '../support/captured-log.js';
import {
  containersOfInstance,
  executeGrpc,
  postJson,
  startTestApp,
  unaryGrpc,
  type GrpcRun,
  waitForWarmSessions,
  type TestApp,
} from '../support/test-app.js';

// As in egress.test.ts: the upstream listens on loopback and the service's resolver (injected) points
// *.test names at 127.0.0.1; the operator's list names allowed.test exactly, which is what lets that
// one name reach a loopback address. denied.test resolves too, but is in no list.
let t: TestApp;
let upstream: Server;
let port = 0;
const log = new CapturedLog();

interface EgressWire {
  requests: number;
  denied: number;
  bytes: number;
  denied_attempts: { host: string; port: number; reason: string }[];
}

async function createSession(request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { response, error } = await unaryGrpc(t.grpc, 'CreateSession', request);
  expect(error).toBeUndefined();
  return response!;
}

function cell(sessionId: string, code: string, extra: Record<string, unknown> = {}): Promise<GrpcRun> {
  return executeGrpc(t.grpc, { session_id: sessionId, code, ...extra });
}

const egressOf = (run: GrpcRun) => run.result?.egress as EgressWire;
const shown = (run: GrpcRun) =>
  (
    run.events.find((event) => event.message.display)?.message.display as {
      data: Record<string, Buffer>;
    }
  )?.data['text/plain']?.toString();
const auditedUnder = (executionId: string | undefined) =>
  log.lines.filter((line) => line.msg === 'egress' && line.executionId === executionId);

beforeAll(async () => {
  upstream = createServer((request, response) => response.end(`hello ${request.url}`));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as AddressInfo).port;
  t = await startTestApp(
    {
      SANDBOX_EGRESS_ALLOW: `allowed.test:${port}`,
      SANDBOX_SESSION_POOL_SIZE: '1',
      SANDBOX_MAX_SESSIONS: '3',
      SANDBOX_MAX_SESSIONS_PER_CALLER: '3',
    },
    pino({ level: 'info' }, log),
    { resolveHost: async (host) => (host.endsWith('.test') ? ['127.0.0.1'] : []) },
  );
  await waitForWarmSessions(t);
});

afterAll(async () => {
  await t?.stop();
  upstream?.close();
  expect(await containersOfInstance(t.docker, t.config.instanceId)).toEqual([]);
});

describe('session egress (the policy set on CreateSession, bound per cell)', () => {
  it('lets a warm Python session reach an allowed host from every cell, each cell with its own report', async () => {
    const created = await createSession({ language: 'python', network: { allow: [`allowed.test:${port}`] } });
    expect(created.warm_start).toBe(true); // relay started at boot, policy bound at the first cell
    const sessionId = created.session_id as string;

    const first = await cell(
      sessionId,
      `import urllib.request\nbody = urllib.request.urlopen("http://allowed.test:${port}/one", timeout=10).read().decode()\nprint(body)`,
    );
    expect(first.stdout.toString()).toBe('hello /one\n');
    expect(egressOf(first)).toMatchObject({ requests: 1, denied: 0, denied_attempts: [] });
    expect(egressOf(first).bytes).toBeGreaterThan(0);

    const second = await cell(
      sessionId,
      [
        'import requests',
        `two = requests.get("http://allowed.test:${port}/two", timeout=10).text`,
        `refused = requests.get("http://denied.test:${port}/", timeout=10)`,
        'print(body, two, refused.status_code)',
      ].join('\n'),
    );
    expect(second.stdout.toString()).toBe('hello /one hello /two 403\n');
    expect(egressOf(second)).toMatchObject({
      requests: 2,
      denied: 1,
      denied_attempts: [{ host: 'denied.test', port, reason: 'not in the allowlist' }],
    });

    // The audit log names the cell each attempt was made in.
    expect(auditedUnder(first.executionId)).toHaveLength(1);
    expect(
      auditedUnder(second.executionId).map((line) => (line.egress as { decision: string }).decision),
    ).toEqual(expect.arrayContaining(['allowed', 'denied']));
    expect(auditedUnder(second.executionId)).toHaveLength(2);

    const fromCell = await cell(sessionId, '1', { network: { allow: [`allowed.test:${port}`] } });
    expect(fromCell.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(fromCell.error?.details).toContain('give it to CreateSession');
    await unaryGrpc(t.grpc, 'CloseSession', { session_id: sessionId });
  });

  it("lets a Node.js session reach it with Node's http module (the runtime's agent tunnels it)", async () => {
    const created = await createSession({ language: 'nodejs', network: { allow: [`allowed.test:${port}`] } });
    const sessionId = created.session_id as string;
    const define = `const get = (url) => new Promise((resolve) => {
  require('http').get(url, (response) => {
    let body = '';
    response.on('data', (chunk) => (body += chunk));
    response.on('end', () => resolve(response.statusCode + ' ' + body.trim()));
  }).on('error', (error) => resolve('ERR ' + error.message));
});
get('http://allowed.test:${port}/node')`;
    const first = await cell(sessionId, define);
    expect(shown(first)).toBe("'200 hello /node'");
    expect(egressOf(first)).toMatchObject({ requests: 1, denied: 0 });

    const second = await cell(sessionId, `get('http://denied.test:${port}/')`);
    expect(shown(second)).toMatch(
      /^'ERR egress to denied\.test:\d+ refused by the proxy .*not in the allowlist'$/,
    );
    expect(egressOf(second)).toMatchObject({
      requests: 1,
      denied: 1,
      denied_attempts: [{ host: 'denied.test', port, reason: 'not in the allowlist' }],
    });
    await unaryGrpc(t.grpc, 'CloseSession', { session_id: sessionId });
  });

  it('gives a session created without network no egress at all, in any cell', async () => {
    const sessionId = (await createSession({ language: 'python' })).session_id as string;
    const code = `import urllib.request
try:
    print(urllib.request.urlopen("http://allowed.test:${port}/", timeout=10).read().decode())
except Exception as error:
    print("ERR", error)`;
    for (let index = 0; index < 2; index += 1) {
      const run = await cell(sessionId, code);
      expect(run.stdout.toString()).toMatch(/^ERR HTTP Error 403/);
      expect(egressOf(run)).toMatchObject({
        requests: 1,
        denied: 1,
        denied_attempts: [{ host: 'allowed.test', port, reason: 'no egress allowed for this execution' }],
      });
    }
    await unaryGrpc(t.grpc, 'CloseSession', { session_id: sessionId });
  });

  it('refuses a session policy beyond the server allowlist, naming the entry', async () => {
    const { error } = await unaryGrpc(t.grpc, 'CreateSession', {
      language: 'python',
      network: { allow: [`allowed.test:${port}`, 'denied.test'] },
    });
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toContain('network.allow[1]');
  });

  it('takes the policy in POST /v1/sessions and reports egress in each REST cell result', async () => {
    const created = await postJson(`${t.httpUrl}/v1/sessions`, {
      language: 'python',
      network: { allow: [`allowed.test:${port}`] },
    });
    expect(created.status).toBe(201);
    const sessionId = created.json.session_id as string;
    const run = await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/execute`, {
      code: `import urllib.request\nurllib.request.urlopen("http://allowed.test:${port}/rest", timeout=10).read().decode()`,
    });
    expect(run.status).toBe(200);
    expect(run.json).toMatchObject({
      exit_reason: 'ok',
      displays: [{ kind: 'execute_result', data: { 'text/plain': "'hello /rest'" } }],
      egress: { requests: 1, denied: 0 },
    });
    const refused = await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/execute`, {
      code: '1',
      network: { allow: [`allowed.test:${port}`] },
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json)).toContain('give it to CreateSession');
    expect((await fetch(`${t.httpUrl}/v1/sessions/${sessionId}`, { method: 'DELETE' })).status).toBe(204);
  });
});
