import { connect } from 'node:net';
import { status, type Client } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  containersOfInstance,
  executeGrpc,
  postJson,
  python,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

// Requests the service cannot take get a clear error naming the problem, and nothing is started.
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    SANDBOX_MAX_CODE_BYTES: '10000',
    SANDBOX_MAX_FILES: '3',
    SANDBOX_MAX_INPUT_BYTES: '100000',
    SANDBOX_HTTP_REQUEST_TIMEOUT_MS: '2000',
  });
});
afterAll(async () => t?.stop());
afterEach(async () => {
  const after = await executeGrpc(t.grpc, python('print("still serving")'));
  expect(after.stdout.toString()).toBe('still serving\n');
});

const containerIds = async () =>
  (await containersOfInstance(t.docker, t.config.instanceId)).map((info) => info.Id);

/** Runs `refuse` and checks that no container appeared meanwhile: nothing was started for it. */
async function startsNothing(refuse: () => Promise<void>): Promise<void> {
  const before = await containerIds();
  await refuse();
  expect((await containerIds()).filter((id) => !before.includes(id))).toEqual([]);
}

const refusedOverGrpc = (request: Record<string, unknown>, field: string) =>
  startsNothing(async () => {
    const run = await executeGrpc(t.grpc, request);
    expect(run.error?.code, JSON.stringify(request).slice(0, 200)).toBe(status.INVALID_ARGUMENT);
    expect(run.error?.details).toContain(field);
    expect(run.events).toEqual([]);
  });

describe('hostile requests', () => {
  it('oversize code', async () => {
    await refusedOverGrpc(python('#'.repeat(10_001)), 'code: is 10001 bytes; the limit is 10000');
  });

  it('too many or too large input files', async () => {
    const file = (path: string, bytes: number) => ({ path, content: Buffer.alloc(bytes) });
    await refusedOverGrpc(
      python('x', { files: [file('a', 1), file('b', 1), file('c', 1), file('d', 1)] }),
      'files: has 4 entries',
    );
    await refusedOverGrpc(
      python('x', { files: [file('a', 60_000), file('b', 60_000)] }),
      'files: stdin, files and arguments total',
    );
  });

  it('path traversal, absolute paths and NUL in file names', async () => {
    for (const path of ['../escape', 'a/../../b', '/etc/passwd', 'nul\u0000byte', 'dir/', '']) {
      await refusedOverGrpc(python('x', { files: [{ path, content: Buffer.from('x') }] }), 'files[0].path');
    }
  });

  it('deeply nested or huge arguments', async () => {
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    await refusedOverGrpc(
      python('def main(**k): pass', { entrypoint: 'main', arguments_json: deep }),
      'arguments',
    );
    const huge = JSON.stringify({ blob: 'x'.repeat(200_000) });
    const response = await postJson(`${t.httpUrl}/v1/execute`, {
      language: 'python',
      code: 'x',
      arguments: JSON.parse(huge),
    });
    expect(response.status).toBe(400);
    await refusedOverGrpc(python('x', { arguments_json: '{not json' }), 'arguments_json: is not valid JSON');
    await refusedOverGrpc(python('x', { arguments_json: '[1, 2]' }), 'arguments: must be a JSON object');
  });

  it('unknown languages, entrypoints and absurd limits', async () => {
    await refusedOverGrpc({ language: 'python3; rm -rf /', code: 'x' }, 'language');
    await refusedOverGrpc(python('x', { entrypoint: 'eval' }), 'entrypoint');
    await refusedOverGrpc(python('x', { limits: { memory_bytes: 1 } }), 'limits.memory_bytes');
    const negative = await postJson(`${t.httpUrl}/v1/execute`, {
      language: 'python',
      code: 'x',
      limits: { timeout_ms: -5 },
    });
    expect(negative.status).toBe(400);
    expect((negative.json.error as { message: string }).message).toContain('limits.timeout_ms');
    const absurd = await postJson(`${t.httpUrl}/v1/execute`, {
      language: 'python',
      code: 'x',
      limits: { memory_bytes: 1e300 },
    });
    expect(absurd.status).toBe(400);
  });

  it('malformed JSON and wrong content types over HTTP', async () => {
    for (const body of ['{', '[]', 'null', '"text"', '{"language": 1}']) {
      const response = await postJson(`${t.httpUrl}/v1/execute`, body);
      expect(response.status, body).toBe(400);
      expect((response.json.error as { code: string }).code).toBe('INVALID_ARGUMENT');
    }
    const text = await fetch(`${t.httpUrl}/v1/execute`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'print(1)',
    });
    expect(text.status).toBe(400); // a text body is not the JSON object the API takes
  });

  it('a malformed protobuf message', async () => {
    const client = t.grpc as Client;
    const code = await new Promise<number>((resolve) => {
      const call = client.makeServerStreamRequest(
        '/sandbox.v1.SandboxService/ExecuteCode',
        (garbage: Buffer) => garbage,
        (bytes: Buffer) => bytes,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
      );
      call.on('data', () => undefined);
      call.on('error', (error: { code: number }) => resolve(error.code));
      call.on('end', () => resolve(status.OK));
    });
    expect(code).not.toBe(status.OK);
  });

  it('a slow client is cut off instead of holding a connection forever', async () => {
    const url = new URL(t.httpUrl);
    const socket = connect(Number(url.port), url.hostname);
    socket.write(
      'POST /v1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"lang',
    );
    const closed = await new Promise<boolean>((resolve) => {
      socket.on('close', () => resolve(true));
      socket.on('error', () => resolve(true));
      setTimeout(() => resolve(false), 15_000);
    });
    socket.destroy();
    expect(closed).toBe(true);
  });
});
