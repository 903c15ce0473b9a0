import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointImageStamp,
  STAGING_PREFIX,
  type CheckpointImageStamp,
} from '../../src/sandbox/docker/restore-staging.js';
import { SANDBOX_PROTOCOL } from '../../src/sandbox/protocol/sandbox-protocol.js';
import { sessionLogId } from '../../src/session/session-log-id.js';
import {
  containersOf,
  containersOfInstance,
  eventuallyEmpty,
  executeGrpc,
  postJson,
  startTestApp,
  unaryGrpc as unary,
  type TestApp,
} from '../support/test-app.js';

/**
 * Sessions that survive (issue 20): pause and resume by gVisor checkpoint/restore, the idle
 * auto-pause, and a graceful restart of the service with the same session ids working after it.
 * Everything here is real: runsc containers, Docker checkpoints, a service process sent SIGTERM.
 */

let t: TestApp;

/** A cold session's container is labelled with the session's log id. */
async function containerOf(docker: Docker, sessionId: string): Promise<Docker.ContainerInspectInfo> {
  const [info] = await containersOf(docker, sessionLogId(sessionId));
  expect(info).toBeDefined();
  return docker.getContainer(info!.Id).inspect();
}

async function checkpointsOf(docker: Docker, containerId: string): Promise<string[]> {
  const container = docker.getContainer(containerId) as unknown as {
    listCheckpoint(): Promise<{ Name: string }[] | null>;
  };
  return ((await container.listCheckpoint()) ?? []).map((checkpoint) => checkpoint.Name);
}

/** The launcher's bridge socket (protocol.json), which no cell may reach. */
const BRIDGE_SOCKET = SANDBOX_PROTOCOL.session.bridge_socket;

/** containerd's leftover copies (restore-staging.ts) of the checkpoint image with `stamp` in `stagingDir`. */
async function restoreCopiesOf(stagingDir: string, stamp: CheckpointImageStamp): Promise<string[]> {
  const copies: string[] = [];
  for (const name of await readdir(stagingDir)) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const image = await stat(join(stagingDir, name, 'checkpoint.img')).catch(() => undefined);
    if (image?.size === stamp.size && Math.floor(image.mtimeMs / 1000) === stamp.mtimeSeconds)
      copies.push(name);
  }
  return copies;
}

async function createSession(httpUrl: string, body: Record<string, unknown>): Promise<string> {
  const created = await postJson(`${httpUrl}/v1/sessions`, body);
  expect(created.status).toBe(201);
  return created.json.session_id as string;
}

/** Runs a cell over REST (collected answer). */
async function cell(httpUrl: string, sessionId: string, code: string): Promise<Record<string, unknown>> {
  const { status, json } = await postJson(`${httpUrl}/v1/sessions/${sessionId}/execute`, { code });
  expect(status).toBe(200);
  return json;
}

/** The text/plain of a cell's value (its execute_result). */
function shown(result: Record<string, unknown>): string | undefined {
  const displays = result.displays as { kind: string; data: Record<string, string> }[] | undefined;
  return displays?.find((display) => display.kind === 'execute_result')?.data['text/plain'];
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return check();
}

async function readyz(httpUrl: string): Promise<Record<string, unknown>> {
  return (await fetch(`${httpUrl}/readyz`)).json() as Promise<Record<string, unknown>>;
}

describe('pause and resume', () => {
  beforeAll(async () => {
    t = await startTestApp({
      SANDBOX_MAX_SESSIONS: '2',
      SANDBOX_MAX_SESSIONS_PER_CALLER: '2',
      SANDBOX_SESSION_PAUSE_AFTER_MS: '0',
    });
  }, 60_000);

  afterAll(async () => {
    const instance = t.config.instanceId;
    await t.stop();
    // Nothing of this instance is left: no container, so no checkpoint either.
    expect(await eventuallyEmpty(() => containersOfInstance(t.docker, instance))).toEqual([]);
  }, 60_000);

  it('reports in /readyz that checkpointing works on this host, from a real probe', async () => {
    expect(
      await waitUntil(
        async () =>
          (await readyz(t.httpUrl)).session_checkpoint !== undefined &&
          ((await readyz(t.httpUrl)).session_checkpoint as { detail: string }).detail !== 'not probed yet',
        30_000,
      ),
    ).toBe(true);
    const { session_checkpoint: support } = await readyz(t.httpUrl);
    expect(support).toMatchObject({ works: true });
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^code_sandbox_session_checkpoint_supported 1$/m);
  }, 40_000);

  it('keeps a Python DataFrame, an imported module and an uploaded file across pause and resume', async () => {
    const sessionId = await createSession(t.httpUrl, { language: 'python' });
    const csv = 'month,revenue\n2024-01,120\n2024-02,130\n';
    const put = await fetch(`${t.httpUrl}/v1/sessions/${sessionId}/files/sales.csv`, {
      method: 'PUT',
      body: csv,
    });
    expect(put.status).toBe(200);
    const loaded = await cell(
      t.httpUrl,
      sessionId,
      'import pandas as pd, statistics\ndf = pd.read_csv("sales.csv")\nint(df.revenue.sum())',
    );
    expect(shown(loaded)).toBe('250');
    expect(loaded.resumed).toBe(false);

    const paused = await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/pause`, {});
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({ session_id: sessionId, state: 'paused', language: 'python' });
    expect(paused.json.checkpoint_bytes as number).toBeGreaterThan(1024 * 1024);
    // Docker: the container is stopped and holds the checkpoint.
    const stopped = await containerOf(t.docker, sessionId);
    expect(stopped.State.Running).toBe(false);
    expect(await checkpointsOf(t.docker, stopped.Id)).toEqual(['session']);
    // Pausing a paused session changes nothing.
    expect((await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/pause`, {})).json.state).toBe('paused');
    // The tests run beside dockerd, as root: Docker's data root is readable.
    const { DockerRootDir: dockerRoot } = (await t.docker.info()) as { DockerRootDir: string };
    const stamp = await checkpointImageStamp(dockerRoot, stopped.Id);
    expect(stamp).toBeDefined();

    const after = await cell(
      t.httpUrl,
      sessionId,
      'import sys\n(int(df.revenue.sum()), "statistics" in sys.modules, open("sales.csv").read())',
    );
    expect(after.exit_reason).toBe('ok');
    expect(shown(after)).toBe(`(250, True, '${csv.replace(/\n/g, '\\n')}')`);
    expect(after.resumed).toBe(true);
    expect(after.resume_ms as number).toBeGreaterThan(0);
    // containerd's copy of the checkpoint for this restore (restore-staging.ts) is not left in its /tmp.
    expect(await restoreCopiesOf(t.config.checkpointStagingDir, stamp!)).toEqual([]);
    // Running again, in the same container.
    const running = await containerOf(t.docker, sessionId);
    expect(running.Id).toBe(stopped.Id);
    expect(running.State.Running).toBe(true);
    // Docker 20.10 restores a container once: a second pause is declined (answered as running), so
    // the session is never checkpointed into a state that could not come back.
    expect((await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/pause`, {})).json.state).toBe('running');
    expect(shown(await cell(t.httpUrl, sessionId, 'int(df.revenue.sum())'))).toBe('250');
    await fetch(`${t.httpUrl}/v1/sessions/${sessionId}`, { method: 'DELETE' });
    expect(await eventuallyEmpty(() => containersOf(t.docker, sessionLogId(sessionId)))).toEqual([]);

    // Closing a paused session removes its container, and with it the checkpoint.
    const other = await createSession(t.httpUrl, { language: 'python' });
    await cell(t.httpUrl, other, 'z = 1');
    expect((await postJson(`${t.httpUrl}/v1/sessions/${other}/pause`, {})).json.state).toBe('paused');
    expect((await fetch(`${t.httpUrl}/v1/sessions/${other}`, { method: 'DELETE' })).status).toBe(204);
    expect(await eventuallyEmpty(() => containersOf(t.docker, sessionLogId(other)))).toEqual([]);
  }, 120_000);

  it("keeps a Node.js session's top-level bindings, a required module and an uploaded file across pause and resume", async () => {
    const { response: created } = await unary(t.grpc, 'CreateSession', { language: 'nodejs' });
    const sessionId = created!.session_id as string;
    const put = await fetch(`${t.httpUrl}/v1/sessions/${sessionId}/files/notes.txt`, {
      method: 'PUT',
      body: 'kept\n',
    });
    expect(put.status).toBe(200);
    const first = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: [
        'let counter = 41; const names = ["a", "b"]; function twice(x) { return 2 * x; }',
        'const zlib = require("zlib"); const packed = zlib.gzipSync("state")',
      ].join('\n'),
    });
    expect(first.result?.exit_reason).toBe('ok');
    const { response: paused, error } = await unary(t.grpc, 'PauseSession', { session_id: sessionId });
    expect(error).toBeUndefined();
    expect(paused).toMatchObject({ session_id: sessionId, state: 'paused' });
    const stopped = await containerOf(t.docker, sessionId);
    expect(stopped.State.Running).toBe(false);
    expect(await checkpointsOf(t.docker, stopped.Id)).toEqual(['session']);

    const next = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: [
        'console.log(counter + 1, names.join(""), twice(21), zlib.gunzipSync(packed).toString(),',
        '  require("fs").readFileSync("notes.txt", "utf8").trim())',
      ].join('\n'),
    });
    expect(next.stdout.toString()).toBe('42 ab 42 state kept\n');
    expect(next.result).toMatchObject({ exit_reason: 'ok', resumed: true });
    // The restored session is reached through its bridge (language-runtimes.ts): every operation works
    // through it, file calls included, and the cell's code cannot reach the bridge's socket.
    const download = await fetch(`${t.httpUrl}/v1/sessions/${sessionId}/files/notes.txt`);
    expect(await download.text()).toBe('kept\n');
    const probe = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: [
        'const net = require("net");',
        `const attempt = net.connect(${JSON.stringify(BRIDGE_SOCKET)});`,
        'attempt.on("error", (e) => console.log("refused", e.code)); attempt.on("connect", () => console.log("connected"));',
        `try { require("fs").readdirSync(${JSON.stringify(dirname(BRIDGE_SOCKET))}); } catch (e) { console.log("listing", e.code); }`,
        'new Promise((resolve) => setTimeout(resolve, 300)).then(() => console.log(++counter))',
      ].join('\n'),
    });
    expect(probe.stdout.toString()).toBe('listing EACCES\nrefused EACCES\n42\n');
    // Output faster than the host reads, through the bridge: the cell is stopped at its output cap
    // and the session keeps its state (the launcher holds the output instead of buffering it all).
    const flood = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: 'const line = "x".repeat(1000); for (let i = 0; i < 1e6; i++) console.log(line)',
    });
    expect(flood.result).toMatchObject({ exit_reason: 'output_limit', interpreter_restarted: false });
    // Read as the cell's value: a Node.js cell interrupted while writing leaves the interpreter's stdout
    // stream unusable for later cells (measured here with and without a pause; noted, not fixed here).
    expect(shown(await cell(t.httpUrl, sessionId, 'counter'))).toBe('42');
    // An interpreter restart kills what the cell left running, but not the bridge (uid 0's): the
    // session goes on, through the same bridge, without the stray.
    const died = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: 'require("child_process").spawn("sleep", ["3600"], { detached: true, stdio: "ignore" }).unref(); process.exit(3)',
    });
    expect(died.result).toMatchObject({ exit_reason: 'error', interpreter_restarted: true });
    const afterRestart = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: [
        'const fs = require("fs");',
        'console.log(fs.readdirSync("/proc").filter((p) => /^\\d+$/.test(p))',
        '  .filter((p) => { try { return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith("sleep"); } catch { return false; } }).length)',
      ].join('\n'),
    });
    expect(afterRestart.result?.exit_reason, afterRestart.stderr.toString()).toBe('ok');
    expect(afterRestart.stdout.toString()).toBe('0\n');
    expect((await containerOf(t.docker, sessionId)).State.Running).toBe(true);
    await unary(t.grpc, 'CloseSession', { session_id: sessionId });
    expect(await eventuallyEmpty(() => containersOf(t.docker, sessionLogId(sessionId)))).toEqual([]);
  }, 120_000);

  it('documents what a background thread and an open loopback socket do across a pause', async () => {
    const sessionId = await createSession(t.httpUrl, { language: 'python' });
    await cell(
      t.httpUrl,
      sessionId,
      [
        'import socket, threading, time',
        'ticks = [0]',
        'def tick():',
        '    while True:',
        '        ticks[0] += 1',
        '        time.sleep(0.05)',
        'threading.Thread(target=tick, daemon=True).start()',
        'server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()',
        'client = socket.create_connection(server.getsockname()); peer, _ = server.accept()',
        'client.sendall(b"before")',
      ].join('\n'),
    );
    expect((await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/pause`, {})).json.state).toBe('paused');
    const after = await cell(
      t.httpUrl,
      sessionId,
      [
        'seen = ticks[0]; time.sleep(0.5)',
        'client.sendall(b" after")',
        'time.sleep(0.1)',
        '(ticks[0] > seen, peer.recv(100))',
      ].join('\n'),
    );
    expect(after.resumed).toBe(true);
    // The thread runs on, and the connection inside the sandbox is intact with the unread bytes.
    expect(shown(after)).toBe("(True, b'before after')");
    await fetch(`${t.httpUrl}/v1/sessions/${sessionId}`, { method: 'DELETE' });
  }, 120_000);
});

describe('idle auto-pause', () => {
  let idle: TestApp;
  beforeAll(async () => {
    idle = await startTestApp({
      SANDBOX_SESSION_PAUSE_AFTER_MS: '2000',
      SANDBOX_MAX_SESSIONS: '2',
      SANDBOX_MAX_SESSIONS_PER_CALLER: '2',
    });
  }, 60_000);
  afterAll(async () => {
    const instance = idle.config.instanceId;
    await idle.stop();
    expect(await eventuallyEmpty(() => containersOfInstance(idle.docker, instance))).toEqual([]);
  }, 60_000);

  it('stops the container of an idle session; the next cell resumes it and says so', async () => {
    const sessionId = await createSession(idle.httpUrl, { language: 'python' });
    expect(shown(await cell(idle.httpUrl, sessionId, 'x = 20\nx'))).toBe('20');
    // The container stops during the checkpoint; the service counts the pause once Docker has it all.
    const metrics = () => fetch(`${idle.httpUrl}/metrics`).then((response) => response.text());
    expect(
      await waitUntil(async () => /^code_sandbox_sessions_paused 1$/m.test(await metrics()), 30_000),
    ).toBe(true);
    expect((await containerOf(idle.docker, sessionId)).State.Running).toBe(false);
    expect(await metrics()).toMatch(
      /^code_sandbox_session_pauses_total\{language="python",reason="idle"\} 1$/m,
    );
    const next = await cell(idle.httpUrl, sessionId, 'x + 22');
    expect(shown(next)).toBe('42');
    expect(next).toMatchObject({ resumed: true });
    expect((await containerOf(idle.docker, sessionId)).State.Running).toBe(true);
  }, 120_000);

  it('a paused session that reaches its idle timeout is removed, container and checkpoint', async () => {
    const sessionId = await createSession(idle.httpUrl, { language: 'python', idle_timeout_ms: 8000 });
    await cell(idle.httpUrl, sessionId, 'y = 1');
    expect(
      await waitUntil(async () => !(await containerOf(idle.docker, sessionId)).State.Running, 30_000),
    ).toBe(true);
    expect(await eventuallyEmpty(() => containersOf(idle.docker, sessionLogId(sessionId)), 30_000)).toEqual(
      [],
    );
    const gone = await postJson(`${idle.httpUrl}/v1/sessions/${sessionId}/execute`, { code: 'y' });
    expect(gone.status).toBe(404);
  }, 120_000);
});

/** The service as operators run it (node dist/src/main.js's source), a child process on ports 0. */
class ServiceProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly httpUrl: string,
  ) {}

  static async start(env: Record<string, string>): Promise<ServiceProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    const httpPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the service did not start within 60 s')), 60_000);
      lines.on('line', (line) => {
        try {
          const entry = JSON.parse(line) as { msg?: string; httpPort?: number };
          if (entry.msg === 'code-sandbox listening' && entry.httpPort) {
            clearTimeout(timer);
            resolve(entry.httpPort);
          }
        } catch {
          // not a log line
        }
      });
      child.once('exit', (code) => reject(new Error(`the service exited (${code}) before listening`)));
    });
    return new ServiceProcess(child, `http://127.0.0.1:${httpPort}`);
  }

  /** SIGTERM, as an orchestrator stops a pod; resolves with the exit code. */
  stop(): Promise<number | null> {
    return new Promise((resolve) => {
      this.child.once('exit', (code) => resolve(code));
      this.child.kill('SIGTERM');
    });
  }
}

// The default configuration, as `npm start` runs it: no SANDBOX_INSTANCE_ID, so each process draws a
// random id, and the second one must take over the first's (resumable-instance-id.ts) to adopt.
describe('graceful restart', () => {
  const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-restart-'));
  const env = {
    SANDBOX_GRPC_PORT: '0',
    SANDBOX_HTTP_PORT: '0',
    SANDBOX_WORK_ROOT: workRoot,
    SANDBOX_POOL_SIZE: '0',
    SANDBOX_SESSION_POOL_SIZE: '0',
    SANDBOX_SESSION_PAUSE_AFTER_MS: '0',
    SANDBOX_LOG_LEVEL: 'info',
  };
  const docker = new Docker();

  afterAll(async () => {
    await rm(workRoot, { recursive: true, force: true });
  });

  it('a new instance on the same work root answers the old sessions (Python and Node.js) with their state and file', async () => {
    const first = await ServiceProcess.start(env);
    const sessionId = await createSession(first.httpUrl, { language: 'python' });
    // A session id starts with its instance's id (the routing prefix).
    const instanceId = sessionId.slice(0, sessionId.indexOf('.'));
    expect(instanceId).toMatch(/^[0-9a-f]{8}$/);
    const content = randomBytes(200_000);
    const put = await fetch(`${first.httpUrl}/v1/sessions/${sessionId}/files/data/blob.bin`, {
      method: 'PUT',
      body: content,
    });
    expect(put.status).toBe(200);
    expect(shown(await cell(first.httpUrl, sessionId, 'x = 41\nx'))).toBe('41');
    const nodeSessionId = await createSession(first.httpUrl, { language: 'nodejs' });
    expect(shown(await cell(first.httpUrl, nodeSessionId, 'let n = 41; n'))).toBe('41');
    // The probe must have answered before the stop, or the stop cannot checkpoint.
    expect(
      await waitUntil(
        async () => ((await readyz(first.httpUrl)).session_checkpoint as { works: boolean }).works,
        30_000,
      ),
    ).toBe(true);

    expect(await first.stop()).toBe(0);
    // Left behind on purpose: the stopped container with its checkpoint, and the registry (0600).
    const [left] = await containersOf(docker, sessionLogId(sessionId));
    expect(left?.State).toBe('exited');
    expect(await checkpointsOf(docker, left!.Id)).toEqual(['session']);
    const registry = statSync(join(workRoot, 'sessions', `${instanceId}.json`));
    expect(registry.mode & 0o777).toBe(0o600);

    const second = await ServiceProcess.start(env);
    try {
      const next = await cell(second.httpUrl, sessionId, 'x + 1');
      expect(shown(next)).toBe('42');
      expect(next.resumed).toBe(true);
      const download = await fetch(`${second.httpUrl}/v1/sessions/${sessionId}/files/data/blob.bin`);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
      const nodeNext = await cell(second.httpUrl, nodeSessionId, 'n + 1');
      expect(shown(nodeNext)).toBe('42');
      expect(nodeNext.resumed).toBe(true);
      expect((await fetch(`${second.httpUrl}/v1/sessions/${sessionId}`, { method: 'DELETE' })).status).toBe(
        204,
      );
    } finally {
      await second.stop();
    }
    expect(await eventuallyEmpty(() => containersOfInstance(docker, instanceId))).toEqual([]);
  }, 240_000);
});
