import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, healthClient } from '../support/grpc-probes.js';
import { executeGrpc, python, startTestApp, unaryGrpc, type TestApp } from '../support/test-app.js';

const TOKEN = 'grpc-admission-test-token-0123';
const LARGE = 15 * 1024 * 1024;
let t: TestApp;

const withToken = () => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${TOKEN}`);
  return metadata;
};

/** Opens a gRPC call on a raw HTTP/2 connection: headers only, no message, the request left open. */
function openCall(session: ClientHttp2Session, method: string) {
  const stream = session.request({
    [constants.HTTP2_HEADER_METHOD]: 'POST',
    [constants.HTTP2_HEADER_PATH]: `/sandbox.v1.SandboxService/${method}`,
    [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    te: 'trailers',
  });
  // The status of a trailers-only response comes with the headers; of a normal one, in trailers.
  const answered = new Promise<IncomingHttpHeaders>((resolve) => {
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) resolve(headers);
    });
    stream.on('trailers', resolve);
  });
  stream.on('error', () => undefined);
  const closed = new Promise<number | undefined>((resolve) =>
    stream.on('close', () => resolve(stream.rstCode)),
  );
  return { stream, answered, closed };
}

/** Resolves with `promise`'s value, or 'no answer' after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'no answer'> {
  return Promise.race([
    promise,
    new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), ms)),
  ]);
}

beforeAll(async () => {
  t = await startTestApp({ SANDBOX_AUTH_TOKEN: TOKEN });
});
afterAll(async () => {
  await t?.stop();
});

describe('gRPC admission before the message', () => {
  it('refuses unauthenticated calls on their metadata, while the client still holds its message back', async () => {
    const session = connect(`http://127.0.0.1:${t.app.grpcPort}`);
    try {
      const calls = Array.from({ length: 6 }, () => openCall(session, 'ExecuteCode'));
      const answers = await Promise.all(calls.map((call) => within(call.answered, 3000)));
      // Not a byte of any message was sent: the service decided on the headers alone.
      for (const answer of answers) {
        expect(answer).not.toBe('no answer');
        expect((answer as IncomingHttpHeaders)['grpc-status']).toBe(String(status.UNAUTHENTICATED));
      }
      for (const call of calls) expect(call.stream.writableLength).toBe(0);
      // And asks the client to send nothing more (RST_STREAM NO_ERROR), though its request is still open.
      expect(await Promise.all(calls.map((call) => within(call.closed, 3000)))).toEqual(
        calls.map(() => constants.NGHTTP2_NO_ERROR),
      );
    } finally {
      session.destroy();
    }
  });

  it('answers large unauthenticated ExecuteCode calls UNAUTHENTICATED, not by reading them', async () => {
    const code = `# ${'x'.repeat(LARGE)}\nprint(1)`;
    const runs = await Promise.all(Array.from({ length: 4 }, () => executeGrpc(t.grpc, python(code))));
    for (const run of runs) {
      expect(run.error?.code).toBe(status.UNAUTHENTICATED);
      expect(run.error?.details).toContain('missing or invalid token');
    }
  });

  it('caps each connection’s concurrent calls', async () => {
    const session = connect(`http://127.0.0.1:${t.app.grpcPort}`);
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) =>
        session.once('remoteSettings', resolve),
      );
      const { concurrency, maxQueued } = t.config;
      expect(settings.maxConcurrentStreams).toBeGreaterThanOrEqual(concurrency + maxQueued);
      expect(settings.maxConcurrentStreams).toBeLessThanOrEqual(200);
    } finally {
      session.destroy();
    }
  });
});

describe('gRPC receive limits per method', () => {
  it('refuses an oversized session call or health check RESOURCE_EXHAUSTED, before decoding it', async () => {
    const sessionId = `${t.config.instanceId}.${'0'.repeat(32)}${'#'.repeat(100 * 1024)}`;
    const close = await unaryGrpc(t.grpc, 'CloseSession', { session_id: sessionId }, withToken());
    expect(close.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    const list = await unaryGrpc(t.grpc, 'ListFiles', { session_id: sessionId }, withToken());
    expect(list.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    // Health stays open to everyone, but only for small messages.
    const health = healthClient(t.app.grpcPort);
    try {
      expect((await checkHealth(health, 'x'.repeat(100 * 1024))).error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect((await checkHealth(health, '')).status).toBe('SERVING');
    } finally {
      health.close();
    }
  });

  it('still takes a large ExecuteCode from an admitted caller', async () => {
    const stdin = Buffer.alloc(2 * 1024 * 1024, 'a');
    const run = await executeGrpc(
      t.grpc,
      python('import sys\nprint(len(sys.stdin.buffer.read()))', { stdin }),
      { metadata: withToken() },
    );
    expect(run.error).toBeUndefined();
    expect(run.stdout.toString()).toBe(`${stdin.length}\n`);
  });
});
