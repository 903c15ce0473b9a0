import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { BackpressuredWriter } from '../backpressured-writer.js';
import { jsonChunks } from './json-chunks.js';

/** Where an HTTP response body goes, and how long it may wait for a client that does not read. */
export interface ResponseBody {
  /** The client disconnected (see abortOnDisconnect). */
  signal: AbortSignal;
  writeTimeoutMs: number;
}

/**
 * Opens a streamed 200 body on `reply` and returns a writer into it. The body is a stream fastify
 * pipes to the socket, so the writer sees the client's backpressure; a client that stops reading for
 * `writeTimeoutMs` has its connection destroyed, which also aborts the request's signal (and so
 * cancels an execution still running).
 */
export function openStreamedBody<T>(
  reply: FastifyReply,
  contentType: string,
  serialize: (item: T) => Iterable<string>,
  { signal, writeTimeoutMs }: ResponseBody,
): { writer: BackpressuredWriter<T, string>; end(): Promise<void> } {
  const body = new PassThrough();
  void reply.status(200).header('content-type', contentType).header('cache-control', 'no-store').send(body);
  const writer = new BackpressuredWriter<T, string>(body, serialize, {
    stallTimeoutMs: writeTimeoutMs,
    onStall: () => reply.raw.destroy(),
    signal,
  });
  return {
    writer,
    async end() {
      await writer.flushed();
      body.end();
    },
  };
}

/** Sends `value` as a JSON body written piece by piece (see jsonChunks), never held whole. */
export async function sendStreamedJson(
  reply: FastifyReply,
  value: unknown,
  body: ResponseBody,
): Promise<FastifyReply> {
  const { writer, end } = openStreamedBody(reply, 'application/json; charset=utf-8', jsonChunks, body);
  writer.push(value);
  await end();
  return reply;
}
