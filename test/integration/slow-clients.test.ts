import { mkdtempSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOURCE_ENTRY, startServiceProcess, type ServiceProcess } from '../../bench/service-process.js';
import { loadSandboxService } from '../../src/transport/grpc/sandbox-proto.js';
import { containersOfInstance, eventuallyEmpty } from '../support/test-app.js';

const MiB = 1024 * 1024;
const OUTPUT_BYTES = 8 * MiB;
const WRITE_TIMEOUT_MS = 5000;
const CLIENTS = 4;
/**
 * The per-request worst case docs/api.md states for a client that does not read: both output streams at their
 * cap, twice (kept once, plus transient copies on the way in), plus about 1 MiB of write buffers.
 */
const PER_REQUEST_BOUND_BYTES = 2 * 2 * OUTPUT_BYTES + MiB;
/** What the whole process may grow besides (V8 heap growth, GC timing, allocator slack). */
const PROCESS_SLACK_BYTES = 32 * MiB;

const workRoot = mkdtempSync(join(tmpdir(), 'code-sandbox-slow-'));
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
let service: ServiceProcess;
beforeAll(async () => {
  // The service in a process of its own: its RSS is the service's alone, not shared with vitest.
  service = await startServiceProcess(
    {
      SANDBOX_WORK_ROOT: workRoot,
      SANDBOX_POOL_SIZE: '0',
      SANDBOX_SESSION_POOL_SIZE: '0',
      SANDBOX_CONCURRENCY: String(CLIENTS),
      SANDBOX_MAX_OUTPUT_BYTES: String(OUTPUT_BYTES),
      SANDBOX_RESPONSE_WRITE_TIMEOUT_MS: String(WRITE_TIMEOUT_MS),
      SANDBOX_LOG_LEVEL: 'info',
    },
    SOURCE_ENTRY,
  );
});
afterAll(async () => {
  await service?.stop();
  rmSync(workRoot, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 8 MiB of NUL bytes on each stream: 6 bytes of JSON (\u0000) per byte, the worst case for escaping. */
const nulFlood = (then: string) =>
  [
    'import sys, time',
    `sys.stdout.buffer.write(b"\\0" * ${OUTPUT_BYTES}); sys.stdout.flush()`,
    `sys.stderr.buffer.write(b"\\0" * ${OUTPUT_BYTES}); sys.stderr.flush()`,
    then,
  ].join('\n');

/** Sends a request over a raw connection and never reads the response (until `readAll`). */
function nonReadingPost(port: number, body: unknown, accept: string) {
  const payload = JSON.stringify(body);
  const socket: Socket = connect(port, '127.0.0.1', () => {
    socket.write(
      `POST /v1/execute HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: ${accept}\r\n` +
        `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
  });
  socket.pause();
  socket.on('error', () => undefined);
  return {
    /** Reads whatever the server still sends until it closes the connection. */
    async readAll(): Promise<string> {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.resume();
      await closed;
      return Buffer.concat(chunks).toString('latin1');
    },
  };
}

describe('clients that never read', () => {
  it('raise service memory by at most the documented bound, and are cut after the write timeout', async () => {
    // Warm up code paths and the heap with one ordinary request first.
    await fetch(`http://127.0.0.1:${service.httpPort}/v1/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python', code: 'print(1)' }),
    });
    await sleep(1000);
    const baselineMb = service.rssMb();

    const limits = { output_bytes: OUTPUT_BYTES, timeout_ms: 30_000 };
    const clients = [
      // Whole-JSON responses: the execution ends, the 96 MiB body waits for a reader.
      nonReadingPost(
        service.httpPort,
        { language: 'python', code: nulFlood(''), limits },
        'application/json',
      ),
      nonReadingPost(
        service.httpPort,
        { language: 'python', code: nulFlood(''), limits },
        'application/json',
      ),
      // Streams: the program keeps running (30 s) after its output; only the write timeout ends it.
      ...[0, 1].map(() =>
        nonReadingPost(
          service.httpPort,
          { language: 'python', code: nulFlood('time.sleep(30)'), limits },
          'application/x-ndjson',
        ),
      ),
    ];
    let peakMb = baselineMb;
    const started = Date.now();
    while (Date.now() - started < WRITE_TIMEOUT_MS + 8000) {
      peakMb = Math.max(peakMb, service.rssMb());
      await sleep(100);
    }
    const growthBytes = (peakMb - baselineMb) * MiB;
    console.log(
      `service RSS: baseline ${baselineMb} MiB, peak ${peakMb} MiB (${CLIENTS} non-reading clients)`,
    );
    expect(growthBytes).toBeLessThanOrEqual(CLIENTS * PER_REQUEST_BOUND_BYTES + PROCESS_SLACK_BYTES);

    // The streams' programs (sleeping 30 s) were cancelled by the write timeout, their sandboxes removed.
    expect(await eventuallyEmpty(() => containersOfInstance(docker, service.instanceId), 10_000)).toEqual([]);
    // Every connection was cut: what arrived is a truncated response, never a complete one.
    for (const body of await Promise.all(clients.map((client) => client.readAll()))) {
      expect(body).toMatch(/^HTTP\/1\.1 200/);
      expect(body).not.toContain('"type":"result"');
      expect(body.length).toBeLessThan(6 * 2 * OUTPUT_BYTES);
    }
  });

  it('over gRPC too: a call whose client stops reading is cancelled after the write timeout', async () => {
    const started = Date.now();
    const call = nonReadingGrpcCall(service.grpcPort, {
      language: 'python',
      code: nulFlood('time.sleep(30)'),
      limits: { output_bytes: OUTPUT_BYTES, timeout_ms: 30_000 },
    });
    try {
      const containers = () => containersOfInstance(docker, service.instanceId);
      expect(
        await eventuallyEmpty(async () => ((await containers()).length === 0 ? [1] : []), 10_000),
      ).toEqual([]);
      // The program would sleep 30 s: its sandbox goes once the write timeout has cancelled it.
      expect(await eventuallyEmpty(containers, WRITE_TIMEOUT_MS + 10_000)).toEqual([]);
      expect(Date.now() - started).toBeLessThan(25_000);
    } finally {
      call.close();
    }
  });
});

/**
 * A gRPC call over a raw HTTP/2 stream that is never read, so HTTP/2 flow control holds the server
 * back. (A grpc-js client cannot play this part: it reads every message into its own memory whether
 * or not the application consumes them.)
 */
function nonReadingGrpcCall(port: number, request: Record<string, unknown>): { close(): void } {
  const method = loadSandboxService().service.ExecuteCode as unknown as {
    path: string;
    requestSerialize(value: unknown): Buffer;
  };
  const message = method.requestSerialize(request);
  const prefix = Buffer.alloc(5); // uncompressed flag + 4-byte length: gRPC's message framing
  prefix.writeUInt32BE(message.length, 1);
  const session = http2Connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  const stream = session.request({
    ':method': 'POST',
    ':path': method.path,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => undefined);
  stream.end(Buffer.concat([prefix, message]));
  stream.pause();
  return { close: () => session.destroy() };
}
