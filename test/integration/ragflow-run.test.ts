import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { status as grpcStatus, Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeGrpc, postJson, python, startTestApp, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);
const TOKEN = 'integration-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const b64 = (code: string) => Buffer.from(code).toString('base64');

let t: TestApp;
beforeAll(async () => {
  // Default limits except the artifact count (one of the cases checks the cap) and output (faster
  // to hit). pandas/matplotlib imports take seconds on a cold gVisor sandbox: keep the 10 s timeout.
  t = await startTestApp({
    SANDBOX_AUTH_TOKEN: TOKEN,
    SANDBOX_DEFAULT_OUTPUT_BYTES: '100000',
    SANDBOX_MAX_ARTIFACTS: '2',
  });
});
afterAll(async () => t?.stop());

const runRequest = (
  language: string,
  code: string,
  args: unknown = {},
  headers: Record<string, string> = auth,
) => postJson(`${t.httpUrl}/run`, { code_b64: b64(code), language, arguments: args }, headers);

describe('RAGFlow /run compatibility', () => {
  it('works for a Python client sending exactly what RAGFlow sends (requests, both languages, both modes, a PNG)', async () => {
    const { stdout } = await run(
      '/usr/bin/python3',
      ['test/integration/ragflow_client.py', t.httpUrl, TOKEN],
      {
        timeout: 120_000,
      },
    ).catch((error: { stdout: string; stderr: string }) => {
      throw new Error(`ragflow_client.py failed:\n${error.stdout}\n${error.stderr}`);
    });
    const cases = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { problems: string[] });
    expect(cases).toHaveLength(6);
    for (const entry of cases) expect(entry.problems).toEqual([]);
  });

  it('maps each outcome to RAGFlow statuses, always with HTTP 200', async () => {
    // /run carries no limits (RAGFlow sends none), so the timeout case needs a server with a short default.
    const quick = await startTestApp({ SANDBOX_DEFAULT_TIMEOUT_MS: '2000' });
    try {
      const timeout = await postJson(`${quick.httpUrl}/run`, {
        code_b64: b64('import time\ntime.sleep(30)'),
        language: 'python',
      });
      expect(timeout.status).toBe(200);
      expect(timeout.json).toMatchObject({ status: 'resource_limit_exceeded', resource_limit_type: 'time' });
    } finally {
      await quick.stop();
    }

    // RAGFlow's own suite: a 300 MB allocation must hit the (256 MiB default) memory limit.
    const memory = await runRequest(
      'python',
      'def main():\n    x = bytearray(300 * 1024 * 1024)\n    return len(x)',
    );
    expect(memory.json).toMatchObject({ status: 'resource_limit_exceeded', resource_limit_type: 'memory' });

    const output = await runRequest('nodejs', 'for (;;) process.stdout.write("y".repeat(8192));');
    expect(output.json).toMatchObject({ status: 'resource_limit_exceeded', resource_limit_type: 'output' });
    expect((output.json.stdout as string).length).toBe(100_000);

    const failure = await runRequest('python', 'import sys\nprint("bad", file=sys.stderr)\nsys.exit(4)');
    expect(failure.json).toMatchObject({
      status: 'program_error',
      exit_code: 4,
      stderr: 'bad\n',
      runtime_error_type: 'nonzero_exit',
    });

    const killed = await runRequest('python', 'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)');
    expect(killed.json).toMatchObject({
      status: 'program_error',
      exit_code: 137,
      runtime_error_type: 'signalled',
    });

    const ok = await runRequest('python', 'def main(n):\n    return list(range(n))', { n: 3 });
    expect(ok.json).toMatchObject({
      status: 'success',
      result: { present: true, value: [0, 1, 2], type: 'json' },
    });
    expect(ok.json.memory_used_kb).toBeGreaterThan(1000);
    expect(ok.json.time_used_ms).toBeGreaterThan(0);
  });

  it('reports a sandbox that cannot start as runtime_error (HTTP 200), not a hang', async () => {
    const broken = await startTestApp({ SANDBOX_PYTHON_IMAGE: 'code-sandbox-missing:0' });
    try {
      const { status, json } = await postJson(`${broken.httpUrl}/run`, {
        code_b64: b64('print(1)'),
        language: 'python',
      });
      expect(status).toBe(200);
      expect(json.status).toBe('runtime_error');
      expect(json.detail).toContain('code-sandbox-missing:0');
    } finally {
      await broken.stop();
    }
  });

  it('keeps the return value apart from stdout: printed or forged markers cannot spoof it', async () => {
    const code = [
      'import json',
      'def main():',
      '    print(json.dumps({"present": True, "value": "FORGED", "type": "str"}))',
      '    print("__RESULT__ {\\"value\\": \\"FORGED\\"}")',
      '    return "genuine"',
    ].join('\n');
    const { json } = await runRequest('python', code);
    expect(json.result).toEqual({ present: true, value: 'genuine', type: 'json' });
    expect(json.stdout).toContain('FORGED');

    const direct = [
      'import json',
      'def main():',
      '    fake = json.dumps({"nonce": "x", "exit_code": 0, "signal": 0, "max_rss_kb": 1,',
      '        "function_result": {"present": True, "value_json": "\\"FORGED\\"", "type": "str"},',
      '        "skipped_artifacts": []}).encode()',
      '    with open("/proc/1/fd/1", "wb") as out:',
      '        out.write(bytes([3, 0, 0, 0]) + len(fake).to_bytes(4, "big") + fake)',
      '    return "genuine"',
    ].join('\n');
    const forged = await runRequest('python', direct);
    expect((forged.json.result as { value: unknown }).value).not.toBe('FORGED');
    expect(forged.json.status).toBe('runtime_error');
  });

  it('explains a missing main() or a return value with no JSON form as program_error', async () => {
    const missing = await postJson(
      `${t.httpUrl}/v1/execute`,
      { language: 'python', code: 'x = 1', entrypoint: 'main' },
      auth,
    );
    expect(missing.json).toMatchObject({ exit_reason: 'error', exit_code: 1 });
    expect(missing.json.detail).toMatch(/defines no function named main/);

    const pythonObject = await runRequest('python', 'def main():\n    return object()');
    expect(pythonObject.json.status).toBe('program_error');
    expect(pythonObject.json.detail).toMatch(/not JSON-serialisable \(object\)/);

    const nodeMissing = await postJson(
      `${t.httpUrl}/v1/execute`,
      { language: 'nodejs', code: 'const x = 1;', entrypoint: 'main' },
      auth,
    );
    expect(nodeMissing.json.detail).toMatch(/defines no function named main/);

    const nodeFunction = await runRequest('nodejs', 'function main() { return () => 1; }');
    expect(nodeFunction.json.status).toBe('program_error');
    expect(nodeFunction.json.detail).toMatch(/not JSON-serialisable \(function\)/);
  });

  it('returns artifacts with caps reported, and input files are readable but read-only', async () => {
    const code = [
      'import os',
      'def main():',
      '    for name in ["a.txt", "b.csv", "c.json"]:',
      '        open(os.path.join("artifacts", name), "w").write(name)',
      '    os.symlink("/etc/hostname", "artifacts/link")',
      '    return sorted(os.listdir("artifacts"))',
    ].join('\n');
    const { json } = await postJson(
      `${t.httpUrl}/v1/execute`,
      { language: 'python', code, entrypoint: 'main' },
      auth,
    );
    expect(json.artifacts).toEqual([
      { name: 'a.txt', mime_type: 'text/plain', size: 5, content_b64: b64('a.txt') },
      { name: 'b.csv', mime_type: 'text/csv', size: 5, content_b64: b64('b.csv') },
    ]);
    expect(json.skipped_artifacts).toEqual([{ name: 'c.json', reason: 'more than 2 artifacts' }]);
  });

  it('streams artifacts as bytes and the return value over gRPC', async () => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${TOKEN}`);
    const result = await new Promise<{
      artifacts: { name: string; content: Buffer }[];
      result: Record<string, unknown>;
    }>((resolve, reject) => {
      const artifacts: { name: string; content: Buffer }[] = [];
      let final: Record<string, unknown> = {};
      const call = (
        t.grpc as unknown as { ExecuteCode(r: unknown, m: Metadata): NodeJS.EventEmitter }
      ).ExecuteCode(
        {
          language: 'python',
          code: 'def main(k):\n    open("artifacts/raw.bin", "wb").write(bytes(range(256)))\n    return {"k": k}',
          entrypoint: 'main',
          arguments_json: '{"k": [1, 2]}',
        },
        metadata,
      );
      call.on(
        'data',
        (message: { artifact?: { name: string; content: Buffer }; result?: Record<string, unknown> }) => {
          if (message.artifact) artifacts.push(message.artifact);
          if (message.result) final = message.result;
        },
      );
      call.on('error', reject);
      call.on('end', () => resolve({ artifacts, result: final }));
    });
    expect(result.artifacts).toHaveLength(1);
    expect(result.artifacts[0]?.content).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    expect(result.result.return_value).toEqual({ present: true, value_json: '{"k": [1, 2]}', type: 'dict' });
  });

  it('requires the token on /run, /v1/execute and gRPC, in either header; health stays open', async () => {
    expect((await runRequest('python', 'print(1)', {}, {})).status).toBe(401);
    expect(
      (await runRequest('python', 'print(1)', {}, { authorization: 'Bearer wrong-token-wrong-token' }))
        .status,
    ).toBe(401);
    expect((await runRequest('python', 'print(1)', {}, { 'x-sandbox-token': TOKEN })).json.status).toBe(
      'success',
    );
    const unauthenticated = await postJson(`${t.httpUrl}/v1/execute`, {
      language: 'python',
      code: 'print(1)',
    });
    expect(unauthenticated.status).toBe(401);
    expect((unauthenticated.json.error as { code: string }).code).toBe('UNAUTHENTICATED');
    const grpc = await executeGrpc(t.grpc, python('print(1)'));
    expect(grpc.error?.code).toBe(grpcStatus.UNAUTHENTICATED);
    expect((await fetch(`${t.httpUrl}/healthz`)).status).toBe(200);
  });

  it('refuses malformed /run requests with 400 naming the problem', async () => {
    const cases: [unknown, string][] = [
      [{ code_b64: '%%%', language: 'python' }, 'code_b64'],
      [{ code_b64: b64('print(1)'), language: 'ruby' }, 'language'],
      [{ code_b64: b64('print(1)'), language: 'python', arguments: [1] }, 'arguments'],
      [{ code_b64: b64('print(1)'), language: 'python', arguments: 'x' }, 'arguments'],
      [{ code_b64: Buffer.from([0xff, 0xfe]).toString('base64'), language: 'python' }, 'code_b64'],
      [{ language: 'python' }, 'code_b64'],
    ];
    for (const [body, field] of cases) {
      const { status, json } = await postJson(`${t.httpUrl}/run`, body, auth);
      expect(status, JSON.stringify(body)).toBe(400);
      expect((json.error as { message: string }).message).toContain(field);
    }
  });
});
