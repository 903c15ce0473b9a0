import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ExecutionEvent, OutputStream } from '../../domain/execution-result.js';
import type { ExecutionService } from '../../execution/execution-service.js';
import { parseExecuteRequestBody } from './execute-request-body.js';
import { httpError } from './http-errors.js';
import { abortOnDisconnect } from './client-disconnect.js';
import { collect, type Execute } from './execute-collecting.js';
import { artifactToJson, displayToJson, eventToJson, resultToJson } from './result-json.js';
import { textFields, Utf8Chunker } from './utf8-text.js';

const NDJSON = 'application/x-ndjson';

/**
 * POST /v1/execute. Default: waits and answers one JSON object (the result plus all output).
 * With `Accept: application/x-ndjson`: one JSON object per line per event, as they happen.
 * Either way, the client disconnecting cancels the execution.
 */
export function registerExecuteRoute(app: FastifyInstance, service: ExecutionService, logger: Logger): void {
  app.post('/v1/execute', async (request, reply) => {
    const input = parseExecuteRequestBody(request.body);
    return respondWithExecution(request, reply, (options) => service.execute(input, options), logger);
  });
}

/**
 * Answers with an execution (one-shot or a session cell): streamed as NDJSON when the client asks for
 * it, else one JSON object once it is done. The client disconnecting cancels it.
 */
export async function respondWithExecution(
  request: FastifyRequest,
  reply: FastifyReply,
  execute: Execute,
  logger: Logger,
): Promise<FastifyReply> {
  const signal = abortOnDisconnect(reply);
  if (wantsNdjson(request)) return streamEvents(reply, (onEvent) => execute({ signal, onEvent }), logger);
  const { result, stdout, stderr, artifacts, displays } = await collect(execute, signal);
  return reply.send({
    ...resultToJson(result),
    ...textFields('stdout', stdout),
    ...textFields('stderr', stderr),
    artifacts: artifacts.map(artifactToJson),
    // Only cells display anything; one-shot answers keep their shape.
    ...(result.cell && { displays: displays.map(displayToJson) }),
  });
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
  logger: Logger,
): Promise<FastifyReply> {
  let body: PassThrough | undefined;
  const chunkers: Record<OutputStream, Utf8Chunker> = {
    stdout: new Utf8Chunker(),
    stderr: new Utf8Chunker(),
  };
  const writeLine = (event: ExecutionEvent) => {
    if (!body) {
      body = new PassThrough();
      void reply.status(200).header('content-type', NDJSON).header('cache-control', 'no-store').send(body);
    }
    body.write(`${JSON.stringify(eventToJson(event))}\n`);
  };
  const onEvent = (event: ExecutionEvent) => {
    if (event.type === 'stdout' || event.type === 'stderr') {
      const data = chunkers[event.type].push(event.data);
      if (data.length > 0) writeLine({ type: event.type, data });
      return;
    }
    if (event.type === 'result') {
      for (const stream of ['stdout', 'stderr'] as const) {
        const rest = chunkers[stream].flush();
        if (rest.length > 0) writeLine({ type: stream, data: rest });
      }
    }
    writeLine(event);
  };
  try {
    await execute(onEvent);
  } catch (error) {
    if (!body) throw error;
    body.write(`${JSON.stringify({ type: 'error', ...httpError(error, logger).body })}\n`);
  }
  body?.end();
  return reply;
}
