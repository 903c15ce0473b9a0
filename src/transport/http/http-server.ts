import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import { registerExecuteRoute } from './execute-route.js';
import { registerHealthRoutes } from './health-routes.js';
import { sendHttpError } from './http-errors.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
}

/** The REST endpoint. `start` resolves with the bound port (useful with port 0). */
export class HttpServer {
  private readonly app: FastifyInstance;

  constructor(
    private readonly options: HttpServerOptions,
    service: ExecutionService,
    logger: Logger,
  ) {
    this.app = Fastify({
      loggerInstance: logger.child({ transport: 'http' }) as FastifyBaseLogger,
      bodyLimit: options.bodyLimitBytes,
      // One line per execution comes from the execution service; per-request lines would double it.
      logController: new LogController({ disableRequestLogging: true }),
    });
    this.app.setErrorHandler((error, _request, reply) => sendHttpError(reply, error, logger));
    registerHealthRoutes(this.app, service);
    registerExecuteRoute(this.app, service, logger);
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
