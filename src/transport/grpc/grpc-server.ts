import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { CallerAdmission } from '../auth/caller-admission.js';
import { GrpcAdmission, SANDBOX_SERVICE_PATH_PREFIX } from './grpc-admission.js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { SessionService } from '../../session/session-service.js';
import { executeCodeHandler } from './execute-code-handler.js';
import { sessionHandlers } from './session-handlers.js';
import type { GrpcHealth } from './grpc-health.js';
import { loadSandboxPackageDefinition, loadSandboxService } from './sandbox-proto.js';

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Largest ExecuteCode request accepted, in bytes (code + stdin + files + framing). */
  maxExecuteMessageBytes: number;
  /** Largest CreateSession (its files) or UploadFile request accepted, in bytes. */
  maxUploadMessageBytes: number;
  /** Calls one client connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
  /** A call blocked this long on a client that does not read is ended and its execution cancelled. */
  responseWriteTimeoutMs: number;
}

/**
 * The receive limit of every other call: health, reflection, the session calls that carry only an id
 * and a path, and any call before it is admitted (a call refused on its metadata never gets further).
 */
export const CONTROL_MESSAGE_BYTES = 64 * 1024;

/**
 * The gRPC endpoint: sandbox.v1.SandboxService, grpc.health.v1.Health and server reflection (v1 and
 * v1alpha). `start` resolves with the bound port (useful with port 0).
 */
export class GrpcServer {
  private readonly server: Server;

  constructor(
    private readonly options: GrpcServerOptions,
    service: ExecutionService,
    sessions: SessionService,
    admission: CallerAdmission,
    health: GrpcHealth,
    logger: Logger,
  ) {
    const method = (name: string) => `${SANDBOX_SERVICE_PATH_PREFIX}${name}`;
    const gate = new GrpcAdmission(admission, {
      receiveLimits: {
        [method('ExecuteCode')]: options.maxExecuteMessageBytes,
        [method('CreateSession')]: options.maxUploadMessageBytes,
        [method('UploadFile')]: options.maxUploadMessageBytes,
      },
      logger,
    });
    this.server = new Server({
      'grpc.max_receive_message_length': CONTROL_MESSAGE_BYTES,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams,
      // First, so nothing runs for a call before it is admitted.
      interceptors: [gate.interceptor],
    });
    const definition = loadSandboxPackageDefinition();
    this.server.addService(loadSandboxService(definition).service, {
      ExecuteCode: executeCodeHandler(service, sessions, gate, logger, options.responseWriteTimeoutMs),
      ...sessionHandlers(sessions, gate, logger),
    });
    // Health and reflection stay open without a token, like GET /healthz: they reveal only the
    // readiness bit and the public .proto, and probes / grpcurl must reach them.
    health.addToServer(this.server);
    new ReflectionService({ ...definition, ...loadSync(healthProtoPath) }).addToServer(this.server);
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
