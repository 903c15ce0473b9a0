import type { FastifyInstance } from 'fastify';
import { ResourceExhaustedError, toServiceError } from '../../../errors/service-error.js';
import type { ExecutionService } from '../../../execution/execution-service.js';
import { abortOnDisconnect } from '../client-disconnect.js';
import { executeCollecting } from '../execute-collecting.js';
import { sendStreamedJson } from '../streamed-json-reply.js';
import { ragflowRefusal, ragflowResponse } from './ragflow-response.js';
import { parseRunRequestBody } from './run-request-body.js';

/**
 * POST /run: RAGFlow's executor-manager contract, so RAGFlow can point its sandbox endpoint here.
 * Every execution outcome is HTTP 200 with a `status`; so are "busy" (program_runner_error, with
 * Retry-After) and "sandbox unavailable" (runtime_error), as RAGFlow reports them. Only a bad request
 * (400) or a missing token (401) is an HTTP error.
 */
export function registerRunRoute(
  app: FastifyInstance,
  service: ExecutionService,
  writeTimeoutMs: number,
): void {
  app.post('/run', async (request, reply) => {
    const input = parseRunRequestBody(request.body);
    const body = { signal: abortOnDisconnect(reply), writeTimeoutMs };
    try {
      const collected = await executeCollecting(service, input, body.signal, request.ip);
      return await sendStreamedJson(reply, ragflowResponse(collected), body);
    } catch (error) {
      const serviceError = toServiceError(error);
      if (serviceError instanceof ResourceExhaustedError) {
        reply.header('retry-after', String(serviceError.retryAfterSeconds));
        return ragflowRefusal('program_runner_error', serviceError.message);
      }
      if (serviceError.code === 'UNAVAILABLE') return ragflowRefusal('runtime_error', serviceError.message);
      throw error;
    }
  });
}
