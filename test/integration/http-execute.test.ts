import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxContainersOfInstance, postJson, startTestApp, type TestApp } from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

const execute = (body: unknown, headers?: Record<string, string>) =>
  postJson(`${t.httpUrl}/v1/execute`, body, headers);

describe('REST API', () => {
  it('GET /healthz answers while the process lives; GET /readyz checks the engine, runsc and the image', async () => {
    const health = await fetch(`${t.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${t.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { checks: { name: string; ok: boolean }[] };
    expect(body.checks.map((check) => check.name).sort()).toEqual([
      t.config.backend, // docker or containerd
      'image:nodejs',
      'image:python',
      'runtime',
    ]);
    expect(body.checks.every((check) => check.ok)).toBe(true);
  });

  it('POST /v1/execute returns the result with stdout and stderr as text', async () => {
    const { status, json } = await execute({
      language: 'python',
      code: 'import sys\nprint("hé ✓")\nprint(input(), file=sys.stderr)\nsys.exit(2)',
      stdin: 'from stdin',
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({
      exit_code: 2,
      exit_reason: 'error',
      stdout: 'hé ✓\n',
      stderr: 'from stdin\n',
      stdout_truncated: false,
    });
    expect(json.stdout_b64).toBeUndefined();
    expect(json.execution_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('carries non-UTF-8 output without loss in stdout_b64', async () => {
    const { json } = await execute({
      language: 'python',
      code: 'import sys\nsys.stdout.buffer.write(bytes([0x66, 0xff, 0x00, 0xc3]))',
    });
    expect(json.exit_reason).toBe('ok');
    expect(Buffer.from(json.stdout_b64 as string, 'base64')).toEqual(Buffer.from([0x66, 0xff, 0x00, 0xc3]));
    expect(json.stdout).toBe('f\ufffd\u0000\ufffd');
  });

  it('accepts binary stdin and input files as base64', async () => {
    const { json } = await execute({
      language: 'python',
      code: 'import sys\nprint(list(sys.stdin.buffer.read()), list(open("b.bin","rb").read()))',
      stdin_b64: Buffer.from([1, 2, 255]).toString('base64'),
      files: [{ path: 'b.bin', content_b64: Buffer.from([0, 254]).toString('base64') }],
    });
    expect(json.stdout).toBe('[1, 2, 255] [0, 254]\n');
  });

  it('streams NDJSON events as they happen with Accept: application/x-ndjson', async () => {
    const response = await fetch(`${t.httpUrl}/v1/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({
        language: 'python',
        // "é" is written in two halves: the stream must deliver it whole.
        code: 'import sys,time\nsys.stdout.buffer.write(b"a\\xc3"); sys.stdout.flush()\ntime.sleep(1)\nsys.stdout.buffer.write(b"\\xa9\\n")',
      }),
    });
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const lines: { at: number; event: Record<string, unknown> }[] = [];
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body!) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        lines.push({ at: performance.now(), event: JSON.parse(buffered.slice(0, newline)) });
        buffered = buffered.slice(newline + 1);
      }
    }
    expect(lines.map((line) => line.event.type)).toEqual(['started', 'stdout', 'stdout', 'result']);
    expect(lines[1]!.event.data).toBe('a');
    expect(lines[2]!.event.data).toBe('é\n');
    expect(lines[3]!.at - lines[1]!.at).toBeGreaterThan(800);
    expect(lines[3]!.event).toMatchObject({ exit_reason: 'ok', exit_code: 0 });
  });

  it('refuses invalid requests with 400 naming the field, and starts nothing for them', async () => {
    const before = (await sandboxContainersOfInstance(t, t.config.instanceId)).length;
    const cases: [unknown, string][] = [
      [{ language: 'cobol', code: 'x' }, 'language'],
      [{ language: 'python', code: '   ' }, 'code'],
      [{ language: 'python' }, 'code'],
      [{ language: 'python', code: 'x', files: [{ path: '../etc/passwd', content: 'x' }] }, 'files[0].path'],
      [{ language: 'python', code: 'x', files: [{ path: '/abs', content: 'x' }] }, 'files[0].path'],
      [
        { language: 'python', code: 'x', files: [{ path: 'a', content: 'x', content_b64: 'eA==' }] },
        'files[0]',
      ],
      [{ language: 'python', code: 'x', stdin_b64: 'not base64!' }, 'stdin_b64'],
      [{ language: 'python', code: 'x', limits: { memory_bytes: -1 } }, 'limits.memory_bytes'],
      [{ language: 'python', code: 'x', limits: { timeout_ms: 1.5 } }, 'limits.timeout_ms'],
      [{ language: 'python', code: 'x', limits: { bogus: 1 } }, 'limits'],
      [{ language: 'python', code: 'x', extra: true }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const { status, json } = await execute(body);
      expect(status, JSON.stringify(body)).toBe(400);
      const error = json.error as { code: string; message: string };
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message, JSON.stringify(body)).toContain(field);
    }
    const malformed = await postJson(`${t.httpUrl}/v1/execute`, '{"language": "python", ');
    expect(malformed.status).toBe(400);
    expect((malformed.json.error as { code: string }).code).toBe('INVALID_ARGUMENT');
    expect((await sandboxContainersOfInstance(t, t.config.instanceId)).length).toBe(before);
  });

  it('kills the sandbox when the HTTP client disconnects', async () => {
    const body = JSON.stringify({ language: 'python', code: 'import time\ntime.sleep(60)' });
    const request = httpRequest(`${t.httpUrl}/v1/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    request.on('error', () => undefined);
    request.end(body);
    // Wait until its container exists, then hang up.
    let seen = false;
    for (let i = 0; i < 100 && !seen; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = (await sandboxContainersOfInstance(t, t.config.instanceId)).length > 0;
    }
    expect(seen).toBe(true);
    request.destroy();
    let remaining = 1;
    for (let i = 0; i < 100 && remaining > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      remaining = (await sandboxContainersOfInstance(t, t.config.instanceId)).length;
    }
    expect(remaining).toBe(0);
  });
});
