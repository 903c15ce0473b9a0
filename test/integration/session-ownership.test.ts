import { request as httpRequest } from 'node:http';
import { Metadata, status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturedLog } from '../support/captured-log.js';
import { executeGrpc, startTestApp, unaryGrpc, type TestApp } from '../support/test-app.js';

// Three callers on one machine: A sends the token; B (127.0.0.1) and C (127.0.0.2) send none and
// are admitted as trusted addresses. Each is a different owner.
const TOKEN = 'session-ownership-test-token-0123';
const log = new CapturedLog();
let t: TestApp;
let unknownId: string;
const ids: string[] = [];

const tokenMetadata = () => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${TOKEN}`);
  return metadata;
};

interface HttpAnswer {
  status: number;
  body: string;
}

/** One REST call from `localAddress` (a trusted loopback address), without a token unless given. */
function http(
  localAddress: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const call = httpRequest(
      {
        host: '127.0.0.1',
        port: t.app.httpPort,
        localAddress,
        method,
        path,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}

/** Every session operation over REST, as `localAddress` sees it for session `id`. */
function restOperations(localAddress: string, id: string): Promise<HttpAnswer>[] {
  return [
    http(localAddress, 'POST', `/v1/sessions/${id}/execute`, JSON.stringify({ code: 'x' })),
    http(localAddress, 'PUT', `/v1/sessions/${id}/files/mine.txt`, JSON.stringify('overwritten')),
    http(localAddress, 'GET', `/v1/sessions/${id}/files/mine.txt`),
    http(localAddress, 'GET', `/v1/sessions/${id}/files`),
    http(localAddress, 'DELETE', `/v1/sessions/${id}`),
  ];
}

/** Every session operation over gRPC for session `id`, with `metadata` (none: a trusted 127.0.0.1). */
async function grpcOperations(id: string, metadata: () => Metadata = () => new Metadata()) {
  const run = await executeGrpc(t.grpc, { session_id: id, code: 'x' }, { metadata: metadata() });
  const errors = [run.error];
  for (const [method, request] of [
    ['UploadFile', { session_id: id, path: 'mine.txt', content: Buffer.from('overwritten') }],
    ['DownloadFile', { session_id: id, path: 'mine.txt' }],
    ['ListFiles', { session_id: id }],
    ['CloseSession', { session_id: id }],
  ] as const) {
    errors.push((await unaryGrpc(t.grpc, method, request, metadata())).error);
  }
  return errors;
}

beforeAll(async () => {
  t = await startTestApp(
    {
      SANDBOX_AUTH_TOKEN: TOKEN,
      SANDBOX_TRUSTED_NETWORKS: '127.0.0.0/8',
      SANDBOX_MAX_SESSIONS: '4',
      SANDBOX_MAX_SESSIONS_PER_CALLER: '1',
      // No room for paused sessions: a caller at its quota is refused instead of having its idle
      // session paused for the next (session-service.test.ts covers that).
      SANDBOX_MAX_PAUSED_SESSIONS: '0',
    },
    pino({ level: 'info' }, log),
  );
  unknownId = `${t.config.instanceId}.${'0'.repeat(32)}`;
});
afterAll(async () => {
  await t?.stop();
});

describe('sessions belong to their creator', () => {
  it('answers another caller NOT_FOUND exactly as for an unknown id, over gRPC and REST; the owner keeps its session', async () => {
    const created = await unaryGrpc(t.grpc, 'CreateSession', { language: 'python' }, tokenMetadata());
    expect(created.error).toBeUndefined();
    const a = created.response!.session_id as string;
    ids.push(a);
    const set = await executeGrpc(t.grpc, { session_id: a, code: 'x = 6' }, { metadata: tokenMetadata() });
    expect(set.result).toMatchObject({ exit_reason: 'ok' });
    const upload = { session_id: a, path: 'mine.txt', content: Buffer.from('A only') };
    expect((await unaryGrpc(t.grpc, 'UploadFile', upload, tokenMetadata())).error).toBeUndefined();

    // B over gRPC: run, write, read, list, close.
    const foreign = await grpcOperations(a);
    const absent = await grpcOperations(unknownId);
    for (const [index, error] of foreign.entries()) {
      expect(error?.code).toBe(status.NOT_FOUND);
      expect(error?.details).toBe(absent[index]?.details.replace(unknownId, a));
    }
    // B and C over REST, the same five.
    for (const address of ['127.0.0.1', '127.0.0.2']) {
      const foreignRest = await Promise.all(restOperations(address, a));
      const absentRest = await Promise.all(restOperations(address, unknownId));
      for (const [index, answer] of foreignRest.entries()) {
        expect(answer.status).toBe(404);
        expect(answer.body).toBe(absentRest[index]?.body.replace(unknownId, a));
      }
    }

    // A's session saw none of it.
    const value = await executeGrpc(t.grpc, { session_id: a, code: 'x * 7' }, { metadata: tokenMetadata() });
    expect(value.result).toMatchObject({ exit_reason: 'ok', execution_count: 2 });
    const read = await unaryGrpc(
      t.grpc,
      'DownloadFile',
      { session_id: a, path: 'mine.txt' },
      tokenMetadata(),
    );
    expect((read.response?.content as Buffer).toString()).toBe('A only');
    // A's token works over REST too: the same owner on both transports.
    const listed = await http('127.0.0.1', 'GET', `/v1/sessions/${a}/files`, undefined, {
      authorization: `Bearer ${TOKEN}`,
    });
    expect(JSON.parse(listed.body)).toEqual({ files: [{ path: 'mine.txt', size: 6 }], truncated: false });
  });

  it('gives each caller its own quota (SANDBOX_MAX_SESSIONS_PER_CALLER) and tells trusted addresses apart', async () => {
    // A holds one session already: its quota of 1 is used.
    const second = await unaryGrpc(t.grpc, 'CreateSession', { language: 'python' }, tokenMetadata());
    expect(second.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(second.error?.details).toContain('SANDBOX_MAX_SESSIONS_PER_CALLER');

    // B (127.0.0.1) still gets one, over REST, and then no more.
    const b = await http('127.0.0.1', 'POST', '/v1/sessions', JSON.stringify({ language: 'python' }));
    expect(b.status).toBe(201);
    const bId = (JSON.parse(b.body) as { session_id: string }).session_id;
    ids.push(bId);
    const bAgain = await http('127.0.0.1', 'POST', '/v1/sessions', JSON.stringify({ language: 'python' }));
    expect(bAgain.status).toBe(429);
    expect(bAgain.body).toContain('SANDBOX_MAX_SESSIONS_PER_CALLER');

    // C (127.0.0.2) and A cannot touch B's session; B can, and closes it.
    for (const answer of await Promise.all(restOperations('127.0.0.2', bId))) expect(answer.status).toBe(404);
    for (const error of await grpcOperations(bId, tokenMetadata)) expect(error?.code).toBe(status.NOT_FOUND);
    const run = await http(
      '127.0.0.1',
      'POST',
      `/v1/sessions/${bId}/execute`,
      JSON.stringify({ code: 'print(5)' }),
    );
    expect(run.status).toBe(200);
    expect(run.body).toContain('5\\n');
    expect((await http('127.0.0.1', 'DELETE', `/v1/sessions/${bId}`)).status).toBe(204);
  });

  it('never writes a session id into the log, only its short hash', () => {
    expect(ids.length).toBeGreaterThan(0);
    const text = log.raw.join('\n');
    for (const id of ids) expect(text).not.toContain(id.split('.')[1]);
    expect(
      log.lines.some((line) => line.msg === 'session created' && /^[0-9a-f]{12}$/.test(String(line.session))),
    ).toBe(true);
  });
});
