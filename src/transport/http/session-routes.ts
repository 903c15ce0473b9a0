import type { FastifyInstance, FastifyReply } from 'fastify';
import { packagesFromWire } from '../wire-install.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { mimeTypeFor } from '../../domain/artifact.js';
import type { ResumeListener, SessionService } from '../../session/session-service.js';
import { sessionStateToWire, sessionToWire } from '../wire-session.js';
import { abortOnDisconnect } from './client-disconnect.js';
import {
  decodeFile,
  fileSchema,
  networkSchema,
  packagesSchema,
  parseExecuteRequestBody,
  parseLimits,
} from './execute-request-body.js';
import { respondWithExecution } from './execute-route.js';
import { parseBody } from './parse-body.js';
import { requestCaller } from './request-caller.js';

const createSessionBodySchema = z
  .object({
    language: z.string(),
    limits: z.unknown().optional(),
    idle_timeout_ms: z.number().optional(),
    files: z.array(fileSchema).optional(),
    network: networkSchema.optional(),
    packages: packagesSchema.optional(),
  })
  .strict();

type SessionParams = { id: string };
/** Set on a file call's answer when the call had to resume its paused session first: milliseconds. */
export const RESUMED_HEADER = 'x-sandbox-session-resumed-ms';
type FileParams = { id: string; '*': string };

/**
 * The session API over REST, in step with the gRPC one:
 * POST /v1/sessions, POST /v1/sessions/{id}/execute (same body and NDJSON streaming as /v1/execute),
 * DELETE /v1/sessions/{id}, POST /v1/sessions/{id}/pause and /resume (200, the session's state), PUT and GET /v1/sessions/{id}/files/{path} (the raw bytes),
 * GET /v1/sessions/{id}/files (a listing).
 */
export function registerSessionRoutes(
  app: FastifyInstance,
  sessions: SessionService,
  logger: Logger,
  writeTimeoutMs: number,
): void {
  app.post('/v1/sessions', async (request, reply) => {
    const body = parseBody(createSessionBodySchema, request.body);
    const created = await sessions.create(
      requestCaller(request),
      {
        language: body.language,
        limits: parseLimits(body.limits),
        idleTimeoutMs: body.idle_timeout_ms,
        files: (body.files ?? []).map(decodeFile),
        ...(body.network ? { network: { allow: body.network.allow ?? [] } } : {}),
        ...packagesFromWire(body.packages),
      },
      abortOnDisconnect(reply),
    );
    return reply.status(201).send(sessionToWire(created));
  });

  app.post<{ Params: SessionParams }>('/v1/sessions/:id/execute', async (request, reply) => {
    const input = parseExecuteRequestBody(request.body, { languageOptional: true });
    return respondWithExecution(
      request,
      reply,
      (options) => sessions.execute(requestCaller(request), request.params.id, input, options),
      logger,
      writeTimeoutMs,
    );
  });

  app.post<{ Params: SessionParams }>('/v1/sessions/:id/pause', async (request, reply) => {
    const state = await sessions.pause(requestCaller(request), request.params.id, abortOnDisconnect(reply));
    return reply.send(sessionStateToWire(state));
  });

  app.post<{ Params: SessionParams }>('/v1/sessions/:id/resume', async (request, reply) => {
    const state = await sessions.resume(requestCaller(request), request.params.id, abortOnDisconnect(reply));
    return reply.send(sessionStateToWire(state));
  });

  app.delete<{ Params: SessionParams }>('/v1/sessions/:id', async (request, reply) => {
    await sessions.close(requestCaller(request), request.params.id);
    return reply.status(204).send();
  });

  app.register(async (fileRoutes) => registerFileRoutes(fileRoutes, sessions));
}

/** A file call that resumed its paused session says so, and how long it took, in a header. */
function resumedHeader(reply: FastifyReply): ResumeListener {
  return (resumeMs) => void reply.header(RESUMED_HEADER, String(resumeMs));
}

/** The file routes, in a scope of their own where every upload body is the file's raw bytes. */
function registerFileRoutes(app: FastifyInstance, sessions: SessionService): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.put<{ Params: FileParams; Body: Buffer | undefined }>(
    '/v1/sessions/:id/files/*',
    async (request, reply) => {
      const content = request.body ?? Buffer.alloc(0);
      const path = request.params['*'];
      const size = await sessions.upload(
        requestCaller(request),
        request.params.id,
        path,
        content,
        abortOnDisconnect(reply),
        resumedHeader(reply),
      );
      return reply.send({ path, size });
    },
  );

  app.get<{ Params: FileParams }>('/v1/sessions/:id/files/*', async (request, reply) => {
    const path = request.params['*'];
    const content = await sessions.download(
      requestCaller(request),
      request.params.id,
      path,
      abortOnDisconnect(reply),
      resumedHeader(reply),
    );
    return reply.header('content-type', mimeTypeFor(path)).send(content);
  });

  app.get<{ Params: SessionParams }>('/v1/sessions/:id/files', async (request, reply) => {
    const listing = await sessions.list(
      requestCaller(request),
      request.params.id,
      abortOnDisconnect(reply),
      resumedHeader(reply),
    );
    return reply.send({ files: listing.files, truncated: listing.truncated });
  });
}
