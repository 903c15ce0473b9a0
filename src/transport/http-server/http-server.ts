import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { CallerAdmission } from '../auth/caller-admission.js';
import { registerMcpRoute } from '../mcp/mcp-route.js';
import type { McpToolbox } from '../mcp/mcp-toolbox.js';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import { presentedToken } from '../auth/token-authenticator.js';
import type { SessionService } from '../../session/session-service.js';
import { registerExecuteRoute } from '../http/execute-route.js';
import { registerSessionRoutes } from '../http/session-routes.js';
import { registerRunRoute } from '../http/ragflow/run-route.js';
import { registerHealthRoutes } from '../http/health-routes.js';
import { sendHttpError } from '../http/http-errors.js';
import { decorateRequestCaller, requestCaller } from '../http/request-caller.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** A client must deliver its whole request within this; slower (slow-loris) connections are cut. */
  requestTimeoutMs: number;
  /** A response blocked this long on a client that does not read is cut (and its execution cancelled). */
  responseWriteTimeoutMs: number;
  /** The Prometheus exposition served at GET /metrics. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The MCP tools served at /mcp, and the name and version the MCP server gives. */
  mcp: { toolbox: McpToolbox; info: Implementation };
}

/**
 * A client must deliver its whole request (headers and body) within `timeoutMs`; a slow-loris
 * connection is destroyed. The clock stops once the body is parsed, so long streamed responses are
 * not affected.
 */
function cutSlowRequests(app: FastifyInstance, timeoutMs: number): void {
  const timers = new WeakMap<object, NodeJS.Timeout>();
  app.addHook('onRequest', async (request) => {
    timers.set(
      request,
      setTimeout(() => request.raw.destroy(), timeoutMs),
    );
  });
  const stop = async (request: object) => clearTimeout(timers.get(request));
  app.addHook('preHandler', stop);
  app.addHook('onResponse', stop);
  app.addHook('onRequestAbort', stop);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The REST endpoint. `start` resolves with the bound port (useful with port 0). It lives above http/,
 * http/ragflow/ and mcp/ because it registers all of their routes, and they share http/ helpers.
 */
export class HttpServer {
  private readonly app: FastifyInstance;

  constructor(
    private readonly options: HttpServerOptions,
    service: ExecutionService,
    sessions: SessionService,
    admission: CallerAdmission,
    logger: Logger,
  ) {
    this.app = Fastify({
      loggerInstance: logger.child({ transport: 'http' }) as FastifyBaseLogger,
      bodyLimit: options.bodyLimitBytes,

      // One line per execution comes from the execution service; per-request lines would double it.
      logController: new LogController({ disableRequestLogging: true }),
    });
    cutSlowRequests(this.app, options.requestTimeoutMs);
    this.app.setErrorHandler((error, _request, reply) => sendHttpError(reply, error, logger));
    registerHealthRoutes(this.app, service, sessions);
    // Open like the probes (scrapers rarely carry tokens); it holds counts, never ids, code or output.
    this.app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await options.metrics();
      return reply.header('content-type', contentType).send(body);
    });
    // Everything but the health probes must be admitted (token or trusted source), checked before
    // the body is even parsed. The socket's peer, never a forwarded-for header a caller could forge.
    // MCP calls are admitted here like the others; the MCP server is built for the caller let in.
    this.app.register(async (executionRoutes) => {
      decorateRequestCaller(executionRoutes);
      executionRoutes.addHook('onRequest', async (request) => {
        const token = presentedToken(
          request.headers.authorization,
          header(request.headers['x-sandbox-token']),
        );
        request.caller = admission.admit('http', request.socket.remoteAddress, token).caller;
      });
      registerMcpRoute(executionRoutes, {
        ...options.mcp,
        callerOf: (request) => ({ identity: requestCaller(request), peer: request.socket.remoteAddress }),
        writeTimeoutMs: options.responseWriteTimeoutMs,
        logger,
      });
      registerExecuteRoute(executionRoutes, service, logger, options.responseWriteTimeoutMs);
      registerRunRoute(executionRoutes, service, options.responseWriteTimeoutMs);
      // Its own scope: the raw-bytes parser for uploads applies to these routes only.
      executionRoutes.register(async (sessionRoutes) =>
        registerSessionRoutes(sessionRoutes, sessions, logger, options.responseWriteTimeoutMs),
      );
    });
  }

  async start(): Promise<number> {
    await this.app.listen({ host: this.options.host, port: this.options.port });
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('HTTP server has no TCP address');
    return address.port;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }
}
