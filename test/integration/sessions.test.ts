import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionLogId } from '../../src/session/session-log-id.js';
import { expectIsolated } from '../support/expect-isolated.js';
import {
  containersOf,
  containersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  postJson,
  startTestApp,
  unaryGrpc as unary,
  type GrpcRun,
  type TestApp,
} from '../support/test-app.js';

// Two slots: enough for the isolation check, and the third create shows the cap.
const MAX_SESSIONS = 2;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
let t: TestApp;

/** A session's container: a cold session sandbox is named by the session's log id, never its id. */
const containersOfSession = (sessionId: string) => containersOf(t.docker, sessionLogId(sessionId));

async function createSession(request: Record<string, unknown> = {}): Promise<string> {
  const { response, error } = await unary(t.grpc, 'CreateSession', { language: 'python', ...request });
  expect(error).toBeUndefined();
  return response!.session_id as string;
}

function cell(sessionId: string, code: string, extra: Record<string, unknown> = {}): Promise<GrpcRun> {
  return executeGrpc(t.grpc, { session_id: sessionId, code, ...extra });
}

/** The `display` events of a run, in order. */
function displays(run: GrpcRun): { kind: string; data: Record<string, Buffer> }[] {
  return run.events
    .map((event) => event.message.display as { kind: string; data: Record<string, Buffer> } | undefined)
    .filter((display) => display !== undefined);
}

/** code_sandbox_sessions_closed_total of `language`'s sessions for `reason`. */
async function sessionsClosed(language: string, reason: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  const series = `code_sandbox_sessions_closed_total{language="${language}",reason="${reason}"} `;
  const line = text.split('\n').find((candidate) => candidate.startsWith(series));
  return line ? Number(line.slice(series.length)) : 0;
}

beforeAll(async () => {
  // One caller (this test) holds both slots: the service-wide cap is what is under test here. No room
  // for paused sessions, so a session past the cap is refused rather than one idle session paused for
  // it (session-survival.test.ts tests that).
  t = await startTestApp({
    SANDBOX_MAX_SESSIONS: String(MAX_SESSIONS),
    SANDBOX_MAX_SESSIONS_PER_CALLER: String(MAX_SESSIONS),
    SANDBOX_MAX_PAUSED_SESSIONS: '0',
  });
});
afterAll(async () => {
  await t?.stop();
  expect(await containersOfInstance(t.docker, t.config.instanceId)).toEqual([]);
});

describe('sessions over gRPC', () => {
  it('keeps state across cells, shows values, plots, survives a timeout, and takes and gives files', async () => {
    const sessionId = await createSession({ limits: { memory_bytes: 512 * 1024 * 1024 } });
    expect(sessionId.startsWith(`${t.config.instanceId}.`)).toBe(true);
    const [container] = await containersOfSession(sessionId);
    expectIsolated(await t.docker.getContainer(container!.Id).inspect(), {
      ...t.config.defaultLimits,
      memoryBytes: 512 * 1024 * 1024,
    });

    expect((await cell(sessionId, 'x = 41\nprint("set")')).stdout.toString()).toBe('set\n');
    const value = await cell(sessionId, 'x + 1');
    // This server allows no egress: like a one-shot result, a cell's carries no egress report.
    expect(value.result).toMatchObject({
      exit_reason: 'ok',
      session_id: sessionId,
      execution_count: 2,
      egress: null,
    });
    expect(displays(value)).toEqual([{ kind: 'execute_result', data: { 'text/plain': Buffer.from('42') } }]);

    const plot = await cell(sessionId, 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()');
    expect(plot.result?.exit_reason).toBe('ok');
    const [figure] = displays(plot);
    expect(figure?.kind).toBe('display_data');
    expect(figure?.data['image/png']?.subarray(0, 4)).toEqual(PNG_MAGIC);

    const error = await cell(sessionId, '1 / 0');
    expect(error.result).toMatchObject({
      exit_reason: 'error',
      detail: 'ZeroDivisionError: division by zero',
    });
    expect(error.stderr.toString()).toContain('ZeroDivisionError');

    const slow = await cell(sessionId, 'import time\ny = 1\ntime.sleep(30)', {
      limits: { timeout_ms: 1000 },
    });
    expect(slow.result).toMatchObject({ exit_reason: 'timeout', signal: 2, interpreter_restarted: false });
    const after = await cell(sessionId, 'x, y');
    expect(displays(after)[0]?.data['text/plain']?.toString()).toBe('(41, 1)');

    const upload = await unary(t.grpc, 'UploadFile', {
      session_id: sessionId,
      path: 'data/in.csv',
      content: Buffer.from('a,b\n1,2\n3,4\n'),
    });
    expect(upload.response).toMatchObject({ path: 'data/in.csv', size: 12 });
    const pandas = await cell(
      sessionId,
      'import pandas as pd\ndf = pd.read_csv("data/in.csv")\ndf["c"] = df.a + df.b\ndf.to_csv("out.csv", index=False)\nint(df.c.sum())',
    );
    expect(displays(pandas)[0]?.data['text/plain']?.toString()).toBe('10');
    const download = await unary(t.grpc, 'DownloadFile', { session_id: sessionId, path: 'out.csv' });
    expect(download.response?.content).toEqual(Buffer.from('a,b,c\n1,2,3\n3,4,7\n'));
    expect(download.response?.mime_type).toBe('text/csv');
    const listing = await unary(t.grpc, 'ListFiles', { session_id: sessionId });
    expect(listing.response?.files).toEqual(
      expect.arrayContaining([
        { path: 'data/in.csv', size: 12 },
        { path: 'out.csv', size: 18 },
      ]),
    );
    const missing = await unary(t.grpc, 'DownloadFile', { session_id: sessionId, path: 'nope.txt' });
    expect(missing.error?.code).toBe(status.NOT_FOUND);
    const escape = await unary(t.grpc, 'DownloadFile', { session_id: sessionId, path: '../etc/passwd' });
    expect(escape.error?.code).toBe(status.INVALID_ARGUMENT);

    expect((await unary(t.grpc, 'CloseSession', { session_id: sessionId })).error).toBeUndefined();
    expect(await eventuallyEmpty(() => containersOfSession(sessionId))).toEqual([]);
    expect((await cell(sessionId, 'x')).error?.code).toBe(status.NOT_FOUND);
  });
});

describe('Node.js sessions', () => {
  it('keep top-level let/const/functions across cells, show the last value, and survive a timeout', async () => {
    const sessionId = await createSession({
      language: 'nodejs',
      files: [{ path: 'in.txt', content: Buffer.from('hello') }],
    });
    const first = await cell(sessionId, "let x = 41; const f = (a) => a * 2; function g() { return 'g'; }");
    expect(first.result?.exit_reason).toBe('ok');
    expect(displays(first)).toEqual([]);
    const second = await cell(sessionId, 'console.log(g()); f(x) + 1');
    expect(second.stdout.toString()).toBe('g\n');
    expect(displays(second)[0]?.data['text/plain']?.toString()).toBe('83');
    const read = await cell(sessionId, "Promise.resolve(require('fs').readFileSync('in.txt', 'utf8'))");
    expect(displays(read)[0]?.data['text/plain']?.toString()).toBe("'hello'");
    const spin = await cell(sessionId, 'x += 1; while (true) {}', { limits: { timeout_ms: 1000 } });
    expect(spin.result).toMatchObject({ exit_reason: 'timeout', signal: 2, interpreter_restarted: false });
    expect(displays(await cell(sessionId, 'x'))[0]?.data['text/plain']?.toString()).toBe('42');
    const exited = await cell(sessionId, 'process.exit(3)');
    expect(exited.result).toMatchObject({ exit_reason: 'error', interpreter_restarted: true });
    expect(displays(await cell(sessionId, 'typeof x'))[0]?.data['text/plain']?.toString()).toBe(
      "'undefined'",
    );
    expect((await unary(t.grpc, 'CloseSession', { session_id: sessionId })).error).toBeUndefined();
  });
});

describe('sessions over REST', () => {
  it('isolates sessions, caps their number, and expires idle ones', async () => {
    const http = (path: string, init: RequestInit = {}) => fetch(`${t.httpUrl}${path}`, init);
    const first = await postJson(`${t.httpUrl}/v1/sessions`, {
      language: 'python',
      files: [{ path: 'secret.txt', content: 'first only' }],
    });
    expect(first.status).toBe(201);
    const a = first.json.session_id as string;
    const second = await postJson(`${t.httpUrl}/v1/sessions`, { language: 'python', idle_timeout_ms: 4000 });
    const b = second.json.session_id as string;
    expect(second.json.idle_timeout_ms).toBe(4000);

    const full = await postJson(`${t.httpUrl}/v1/sessions`, { language: 'python' });
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBeTruthy();

    await postJson(`${t.httpUrl}/v1/sessions/${a}/execute`, { code: 'secret = 7' });
    const put = await http(`/v1/sessions/${b}/files/notes/b.txt`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"not": "parsed"}',
    });
    expect(await put.json()).toEqual({ path: 'notes/b.txt', size: 17 });
    const inB = await postJson(`${t.httpUrl}/v1/sessions/${b}/execute`, {
      code: 'import os\nprint(sorted(os.listdir(".")))\nsecret',
    });
    expect(inB.status).toBe(200);
    expect(inB.json).toMatchObject({ exit_reason: 'error', stdout: "['notes']\n", session_id: b });
    expect(inB.json.detail).toContain('NameError');
    const listing = (await (await http(`/v1/sessions/${a}/files`)).json()) as { files: unknown };
    expect(listing.files).toEqual([{ path: 'secret.txt', size: 10 }]);
    expect(await (await http(`/v1/sessions/${a}/files/secret.txt`)).text()).toBe('first only');
    const notInB = await http(`/v1/sessions/${b}/files/secret.txt`);
    expect(notInB.status).toBe(404);
    await notInB.body?.cancel();

    const streamed = await http(`/v1/sessions/${a}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ code: 'print("s")\nsecret * 6' }),
    });
    const lines = (await streamed.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.type)).toEqual(['started', 'stdout', 'display', 'result']);
    expect(lines[2]).toEqual({ type: 'display', kind: 'execute_result', data: { 'text/plain': '42' } });

    expect((await http(`/v1/sessions/${a}`, { method: 'DELETE' })).status).toBe(204);
    expect((await http(`/v1/sessions/${a}`, { method: 'DELETE' })).status).toBe(404);
    expect(await eventuallyEmpty(() => containersOfSession(a))).toEqual([]);

    // b has been idle since its last call: it goes after 4 s, container and all.
    expect(await eventuallyEmpty(() => containersOfSession(b), 20_000)).toEqual([]);
    const expired = await postJson(`${t.httpUrl}/v1/sessions/${b}/execute`, { code: '1' });
    expect(expired.status).toBe(404);
  });

  it('ends a session whose sandbox dies, and leaves no container', async () => {
    const sessionId = await createSession();
    const [container] = await containersOfSession(sessionId);
    await t.docker.getContainer(container!.Id).kill();
    expect(await eventuallyEmpty(() => containersOfSession(sessionId))).toEqual([]);
    expect((await cell(sessionId, '1')).error?.code).toBe(status.NOT_FOUND);
  });
});

// Under runsc the host's memory cgroup OOM-kills the whole sandbox (its interpreter and launcher
// alike; docker reports OOMKilled), whichever language and whether the memory is on V8's heap or not.
describe('sessions out of memory', () => {
  it.each([
    ['python', 'chunks = []\nwhile True:\n    chunks.append(b"x" * (16 * 1024 * 1024))'],
    ['nodejs', 'const chunks = []; while (true) chunks.push(new Array(1e6).fill(1.5));'],
  ])(
    '%s: ends the cell as "oom", ends the session, removes its container and counts it',
    async (language, code) => {
      const before = await sessionsClosed(language, 'oom');
      const sessionId = await createSession({ language, limits: { memory_bytes: 256 * 1024 * 1024 } });
      const [container] = await containersOfSession(sessionId);
      expect(container).toBeDefined();
      const run = await cell(sessionId, code);
      expect(run.error).toBeUndefined();
      expect(run.result).toMatchObject({ exit_reason: 'oom', session_id: sessionId });
      expect(run.result?.detail).toContain(`memory limit of ${256 * 1024 * 1024} bytes exceeded`);
      expect((await cell(sessionId, '1')).error?.code).toBe(status.NOT_FOUND);
      expect(await eventuallyEmpty(() => containersOfSession(sessionId))).toEqual([]);
      expect(await sessionsClosed(language, 'oom')).toBe(before + 1);
    },
  );
});

describe('sessions on a server without egress', () => {
  it('refuses CreateSession with a network policy exactly as a one-shot request is refused', async () => {
    const network = { allow: ['example.com'] };
    const created = await unary(t.grpc, 'CreateSession', { language: 'python', network });
    const oneShot = await executeGrpc(t.grpc, { language: 'python', code: '1', network });
    expect(created.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(created.error?.details).toBe(oneShot.error?.details);
    expect(created.error?.details).toContain('network.allow[0]');
    expect(created.error?.details).toContain('SANDBOX_EGRESS_ALLOW');
    const rest = await postJson(`${t.httpUrl}/v1/sessions`, { language: 'nodejs', network });
    expect(rest.status).toBe(400);
    expect(JSON.stringify(rest.json)).toContain('network.allow[0]');
  });
});

describe('the Python session example (docs/sessions.md)', () => {
  it('runs a three-cell analysis with a plot and a download', async () => {
    const run = promisify(execFile);
    const stubsDir = mkdtempSync(join(tmpdir(), 'code-sandbox-stubs-'));
    const outDir = mkdtempSync(join(tmpdir(), 'code-sandbox-session-out-'));
    try {
      await run('bash', ['examples/python/generate.sh', stubsDir]);
      const { stdout } = await run(
        '/usr/bin/python3',
        [
          'examples/python/session_analysis.py',
          '--address',
          `127.0.0.1:${t.app.grpcPort}`,
          '--out-dir',
          outDir,
        ],
        { env: { ...process.env, SANDBOX_STUBS_DIR: stubsDir } },
      );
      expect(stdout).toMatch(/\[execute_result\] month +object\nrevenue +object/);
      expect(stdout).toContain('4 rows\n[execute_result] 575.0');
      expect(stdout).toMatch(/\[cell 3\] ok/);
      expect(readFileSync(join(outDir, 'cell3.png')).subarray(0, 4)).toEqual(PNG_MAGIC);
      expect(readFileSync(join(outDir, 'clean.csv'), 'utf8')).toContain('2024-02,135.0');
    } finally {
      rmSync(stubsDir, { recursive: true, force: true });
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});
