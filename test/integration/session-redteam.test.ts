import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_PROTOCOL } from '../../src/sandbox/protocol/sandbox-protocol.js';
import { executeGrpc, startTestApp, unaryGrpc as unary, type TestApp } from '../support/test-app.js';
import { SessionTracker } from '../support/session-tracker.js';

// Issue 19 red team, after the session and admission hardening: what a session's code or a hostile
// caller could still do. Each test reproduces one finding against the code before its fix.
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ SANDBOX_MAX_SESSIONS: '2' });
});
afterAll(async () => {
  await t?.stop();
});
const sessions = new SessionTracker(() => t);
afterEach(() => sessions.closeAll());

const createSession = (language: string) => sessions.create(language);

describe('session red team', () => {
  // The Python kernel inherits the launcher's stderr (a host fd, `host:[2]` in its /proc/self/fd), so
  // its crash reports reach the host's log. Code can write there directly, past the cell's output cap
  // and after the cell ended: measured before the fix, 200 MB in 8 s, all read by the service and
  // logged at debug level (60 MB of log in those 8 s), for as long as the session lives.
  it('ends a session whose code floods the launcher’s diagnostic stream', async () => {
    const sessionId = await createSession('python');
    const cap = SANDBOX_PROTOCOL.caps.diagnostic_bytes;
    const flood = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: [
        'import os, time',
        'def target(fd):',
        '    try: return os.readlink(f"/proc/self/fd/{fd}")',
        '    except OSError: return ""  # the descriptor listdir itself used',
        'fds = [int(f) for f in os.listdir("/proc/self/fd") if target(f).startswith("host:")]',
        'assert fds, "no host descriptor"',
        `for _ in range(${Math.ceil((4 * cap) / 4096)}):`,
        '    for fd in fds: os.write(fd, b"z" * 4095 + b"\\n")',
        'time.sleep(10)',
      ].join('\n'),
      limits: { timeout_ms: 20_000 },
    });
    expect(flood.result?.exit_reason, flood.stderr.toString()).toBe('sandbox_error');
    expect(String(flood.result?.detail)).toContain(`more than ${cap} bytes`);
    const after = await executeGrpc(t.grpc, { session_id: sessionId, code: '1' });
    expect(after.error?.code).toBe(status.NOT_FOUND);
  });

  // A restart promises that what the cell left running goes with its kernel. The launcher killed the
  // strays but reaped only those already dead when it looked; the rest stayed zombies holding the pids
  // limit, so after a cell that left max_processes sleepers behind, the restarted kernel could not fork
  // (measured before the fix: BlockingIOError EAGAIN in the next cell, 57 entries in /proc).
  it('a restarted Python kernel gets the pids its predecessor’s strays held', async () => {
    const sessionId = await createSession('python');
    const strays = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: [
        'import os, subprocess',
        'try:',
        '    while True: subprocess.Popen(["sleep", "3600"], start_new_session=True)',
        'except OSError: pass',
        'os._exit(1)',
      ].join('\n'),
      limits: { timeout_ms: 20_000 },
    });
    expect(strays.result).toMatchObject({ exit_reason: 'error', interpreter_restarted: true });
    const after = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: 'import subprocess; print(subprocess.run(["true"]).returncode)',
      limits: { timeout_ms: 20_000 },
    });
    expect(after.result?.exit_reason, after.stderr.toString()).toBe('ok');
    expect(after.stdout.toString()).toBe('0\n');
  });

  // The Python launcher walked the tree recursively, holding a descriptor per level: a tree the code
  // made 1100 directories deep killed it (exit status 134) on ListFiles, and the session with it.
  it('lists a session whose code made a very deep tree, and the session lives on', async () => {
    const sessionId = await createSession('python');
    const deep = await executeGrpc(t.grpc, {
      session_id: sessionId,
      code: [
        'import os',
        'open("/work/top.txt", "w").write("x")',
        'os.chdir("/work")',
        'for _ in range(1100):',
        '    os.mkdir("d"); os.chdir("d")',
        'open("leaf", "w").write("x")',
        'os.chdir("/work")',
      ].join('\n'),
      limits: { timeout_ms: 20_000 },
    });
    expect(deep.result?.exit_reason, deep.stderr.toString()).toBe('ok');
    const listed = await unary(t.grpc, 'ListFiles', { session_id: sessionId });
    expect(listed.error).toBeUndefined();
    const files = listed.response?.files as { path: string }[];
    expect(files.map((file) => file.path)).toEqual(['top.txt']);
    expect(listed.response?.truncated).toBe(true);
    const after = await executeGrpc(t.grpc, { session_id: sessionId, code: 'print(1)' });
    expect(after.result?.exit_reason).toBe('ok');
  });
});
