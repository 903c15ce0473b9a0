import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ExecutionEvent, OutputStream } from '../../domain/execution-result.js';
import type { ExecutionService } from '../../execution/execution-service.js';
import { detachedEvent } from '../detached-event.js';
import { parseExecuteRequestBody } from './execute-request-body.js';
import { httpError, type HttpErrorBody } from './http-errors.js';
import { abortOnDisconnect } from './client-disconnect.js';
import { collect, type Execute } from './execute-collecting.js';
import { jsonChunks } from './json-chunks.js';
import { artifactToJson, displayToJson, eventToJson, resultToJson } from './result-json.js';
import { openStreamedBody, sendStreamedJson, type ResponseBody } from './streamed-json-reply.js';
import { textFields, Utf8Chunker } from './utf8-text.js';

const NDJSON = 'application/x-ndjson';
/** Output is cut into lines of at most this many bytes, so no single line is large. */
const MAX_LINE_OUTPUT_BYTES = 64 * 1024;

/** A streamed line: an execution event, or the error that ended a stream already under way. */
type NdjsonItem = ExecutionEvent | ({ type: 'error' } & HttpErrorBody);

/**
 * POST /v1/execute. Default: waits and answers one JSON object (the result plus all output).
 * With `Accept: application/x-ndjson`: one JSON object per line per event, as they happen.
 * Either way, the client disconnecting cancels the execution, the response is written as fast as
 * the client reads it (never built whole in memory), and a client that stops reading for
 * `writeTimeoutMs` is disconnected.
 */
export function registerExecuteRoute(
  app: FastifyInstance,
  service: ExecutionService,
  logger: Logger,
  writeTimeoutMs: number,
): void {
  app.post('/v1/execute', async (request, reply) => {
    const input = parseExecuteRequestBody(request.body);
    return respondWithExecution(
      request,
      reply,
      (options) => service.execute(input, options),
      logger,
      writeTimeoutMs,
    );
  });
}

/**
 * Answers with an execution (one-shot or a session cell): streamed as NDJSON when the client asks for
 * it, else one JSON object once it is done, written as fast as the client reads it. The client
 * disconnecting cancels it.
 */
export async function respondWithExecution(
  request: FastifyRequest,
  reply: FastifyReply,
  execute: Execute,
  logger: Logger,
  writeTimeoutMs: number,
): Promise<FastifyReply> {
  const body: ResponseBody = { signal: abortOnDisconnect(reply), writeTimeoutMs };
  const clientKey = request.ip;
  if (wantsNdjson(request))
    return streamEvents(
      reply,
      (onEvent) => execute({ signal: body.signal, onEvent, clientKey }),
      body,
      logger,
    );

  const { result, stdout, stderr, artifacts, displays } = await collect(execute, body.signal, clientKey);
  return sendStreamedJson(
    reply,
    {
      ...resultToJson(result),
      ...textFields('stdout', stdout),
      ...textFields('stderr', stderr),
      artifacts: artifacts.map(artifactToJson),
      // Only cells display anything; one-shot answers keep their shape.
      ...(result.cell && { displays: displays.map(displayToJson) }),
    },
    body,
  );
}

function wantsNdjson(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes(NDJSON);
}

/**
 * Commits to a 200 NDJSON response only at the first event, so a request refused before it starts
 * (invalid, queue full) still gets its proper status. An error after that is the last line.
 */
async function streamEvents(
  reply: FastifyReply,
  execute: (onEvent: (event: ExecutionEvent) => void) => Promise<unknown>,
  body: ResponseBody,
  logger: Logger,
): Promise<FastifyReply> {
  let stream: ReturnType<typeof openStreamedBody<NdjsonItem>> | undefined;
  const onEvent = (event: ExecutionEvent) => {
    stream ??= openStreamedBody(reply, NDJSON, ndjsonSerializer(), body);
    stream.writer.push(detachedEvent(event));
  };
  try {
    await execute(onEvent);
  } catch (error) {
    if (!stream) throw error;
    stream.writer.push({ type: 'error', ...httpError(error, logger).body });
  }
  await stream?.end();
  return reply;
}

/**
 * Serialises items into NDJSON lines, in order: output is re-cut at UTF-8 boundaries (per stream)
 * and into lines of at most MAX_LINE_OUTPUT_BYTES; the result line comes after any held-back bytes.
 */
function ndjsonSerializer(): (item: NdjsonItem) => Iterable<string> {
  const chunkers: Record<OutputStream, Utf8Chunker> = {
    stdout: new Utf8Chunker(),
    stderr: new Utf8Chunker(),
  };
  function* line(value: unknown): Generator<string> {
    yield* jsonChunks(value);
    yield '\n';
  }
  return function* serialize(item) {
    if (item.type === 'error') return yield* line(item);
    if (item.type === 'stdout' || item.type === 'stderr') {
      for (let offset = 0; offset < item.data.length; offset += MAX_LINE_OUTPUT_BYTES) {
        const data = chunkers[item.type].push(item.data.subarray(offset, offset + MAX_LINE_OUTPUT_BYTES));
        if (data.length > 0) yield* line(eventToJson({ type: item.type, data }));
      }
      return;
    }
    if (item.type === 'result') {
      for (const stream of ['stdout', 'stderr'] as const) {
        const rest = chunkers[stream].flush();
        if (rest.length > 0) yield* line(eventToJson({ type: stream, data: rest }));
      }
    }
    yield* line(eventToJson(item));
  };
}
