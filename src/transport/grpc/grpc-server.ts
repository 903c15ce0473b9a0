import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import { executeCodeHandler } from './execute-code-handler.js';
import { loadSandboxService } from './sandbox-proto.js';

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Largest request accepted, in bytes (code + stdin + files + framing). */
  maxReceiveMessageBytes: number;
}

/** The gRPC endpoint. `start` resolves with the bound port (useful with port 0). */
export class GrpcServer {
  private readonly server: Server;

  constructor(
    private readonly options: GrpcServerOptions,
    service: ExecutionService,
    authenticator: TokenAuthenticator,
    logger: Logger,
  ) {
    this.server = new Server({ 'grpc.max_receive_message_length': options.maxReceiveMessageBytes });
    this.server.addService(loadSandboxService().service, {
      ExecuteCode: executeCodeHandler(service, authenticator, logger),
    });
  }

  start(): Promise<number> {
    const address = `${this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host}:${this.options.port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      );
    });
  }

  /** Stops accepting calls and waits for running ones to finish; `forceAfterMs` later it cuts them. */
  stop(forceAfterMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, forceAfterMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
