import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);
const TOKEN = 'python-client-token-0123456789';
// Debian's interpreter: python3-grpcio and python3-protobuf are installed for it (PATH may hold another).
const PYTHON = '/usr/bin/python3';
const CLIENT = 'examples/python/sandbox_client.py';

interface ClientRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** When each stdout chunk reached us, and when the result line did, in ms since spawn. */
  stdoutAt: { at: number; text: string }[];
  resultAt: number | undefined;
}

describe('the Python client generated with protoc + grpc_python_plugin', () => {
  let t: TestApp;
  let stubsDir: string;
  let artifactsDir: string;

  beforeAll(async () => {
    stubsDir = mkdtempSync(join(tmpdir(), 'code-sandbox-stubs-'));
    artifactsDir = mkdtempSync(join(tmpdir(), 'code-sandbox-artifacts-'));
    await run('bash', ['examples/python/generate.sh', stubsDir]);
    t = await startTestApp({ SANDBOX_AUTH_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(stubsDir, { recursive: true, force: true });
    rmSync(artifactsDir, { recursive: true, force: true });
  });

  function client(args: string[], token = TOKEN): Promise<ClientRun> {
    const started = performance.now();
    const child = spawn(PYTHON, [CLIENT, '--address', `127.0.0.1:${t.app.grpcPort}`, ...args], {
      env: { ...process.env, SANDBOX_STUBS_DIR: stubsDir, SANDBOX_TOKEN: token },
    });
    const result: ClientRun = { exitCode: null, stdout: '', stderr: '', stdoutAt: [], resultAt: undefined };
    child.stdout.on('data', (chunk: Buffer) => {
      result.stdout += chunk.toString();
      result.stdoutAt.push({ at: performance.now() - started, text: chunk.toString() });
    });
    child.stderr.on('data', (chunk: Buffer) => {
      result.stderr += chunk.toString();
      if (result.resultAt === undefined && result.stderr.includes('"exit_reason"')) {
        result.resultAt = performance.now() - started;
      }
    });
    return new Promise((resolve) =>
      child.on('close', (code) => {
        result.exitCode = code;
        resolve(result);
      }),
    );
  }

  const resultOf = (run: ClientRun) =>
    JSON.parse(run.stderr.trim().split('\n').at(-1)!) as Record<string, unknown>;

  it('streams stdout as it is produced: the first line arrives about a second before the result', async () => {
    const run = await client(['import time\nprint("first", flush=True)\ntime.sleep(1)\nprint("second")']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('first\nsecond\n');
    const early = run.stdoutAt.filter((chunk) => run.resultAt! - chunk.at > 800).map((chunk) => chunk.text);
    expect(early.join('')).toBe('first\n');
    expect(resultOf(run)).toMatchObject({ exit_reason: 'ok', exit_code: 0 });
  });

  it('calls main() with arguments, returns its value and saves artifacts', async () => {
    const code = [
      'import os',
      'def main(name):',
      '    os.makedirs("artifacts", exist_ok=True)',
      '    open("artifacts/greeting.txt", "w").write("hello " + name)',
      '    return {"greeted": name}',
    ].join('\n');
    const run = await client(['--arguments', '{"name": "rag"}', '--artifacts-dir', artifactsDir, code]);
    expect(run.exitCode).toBe(0);
    expect(resultOf(run)).toMatchObject({ exit_reason: 'ok', return_value: { greeted: 'rag' } });
    expect(readFileSync(join(artifactsDir, 'greeting.txt'), 'utf8')).toBe('hello rag');
  });

  it("exits with the program's exit code, and with 2 and the status when the call is refused", async () => {
    const failing = await client(['import sys\nprint("bad", file=sys.stderr)\nsys.exit(3)']);
    expect(failing.exitCode).toBe(3);
    expect(failing.stderr).toContain('bad\n');
    expect(resultOf(failing)).toMatchObject({ exit_reason: 'error', exit_code: 3 });

    const refused = await client(['print(1)'], 'wrong-token-0123456789');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('ExecuteCode failed: UNAUTHENTICATED');
  });
});
