import { join } from 'node:path';
import type { Logger } from 'pino';
import { isLoopback, type Config } from '../config/config.js';
import { packageRoot } from '../config/package-root.js';
import { packageVersion } from '../config/package-version.js';
import { loadSandboxImagePackages } from '../config/sandbox-image-packages.js';
import { SANDBOX_IMAGES_FILE } from '../config/sandbox-images.js';
import type { ExecutionService } from '../execution/execution-service.js';
import type { PrometheusMetrics } from '../observability/prometheus-metrics.js';
import type { SessionService } from '../session/session-service.js';
import { CallerAdmission, type TrustedRanges } from '../transport/auth/caller-admission.js';
import { TokenAuthenticator } from '../transport/auth/token-authenticator.js';
import { GrpcHealth } from '../transport/grpc/grpc-health.js';
import { GrpcServer } from '../transport/grpc/grpc-server.js';
import { streamsPerConnection } from '../transport/grpc/streams-per-connection.js';
import { HttpServer } from '../transport/http-server/http-server.js';
import { sandboxFacts } from '../transport/mcp/sandbox-description.js';
import { sandboxToolbox } from '../transport/mcp/sandbox-toolbox.js';

/** Room for protobuf/JSON framing and base64 (4/3) on top of code + input bytes. */
const REQUEST_OVERHEAD_BYTES = 1024 * 1024;

/** The listeners startApp starts and stops. */
export interface TransportLayer {
  health: GrpcHealth;
  grpc: GrpcServer;
  http: HttpServer;
}

/** Authentication, gRPC (with health) and HTTP, in front of the execution and session services. */
export function wireTransports(
  config: Config,
  service: ExecutionService,
  sessions: SessionService,
  trustedRanges: TrustedRanges,
  metrics: PrometheusMetrics,
  logger: Logger,
): TransportLayer {
  const tokens = new TokenAuthenticator(config.authToken);
  if (!tokens.required && trustedRanges.trusted.length === 0) noteOpenEndpoints(config, logger);
  const admission = new CallerAdmission(tokens, trustedRanges, metrics, logger);
  const requestBytes = config.maxCodeBytes + config.maxInputBytes + REQUEST_OVERHEAD_BYTES;
  const uploadBytes = config.maxInputBytes + REQUEST_OVERHEAD_BYTES;
  const health = new GrpcHealth({
    readiness: () => service.readiness(),
    pollIntervalMs: config.healthCheckIntervalMs,
    logger,
  });
  const grpc = new GrpcServer(
    {
      host: config.host,
      port: config.grpcPort,
      maxExecuteMessageBytes: requestBytes,
      maxUploadMessageBytes: uploadBytes,
      maxConcurrentStreams: streamsPerConnection(config),
      responseWriteTimeoutMs: config.responseWriteTimeoutMs,
    },
    service,
    sessions,
    admission,
    health,
    logger,
  );
  const http = new HttpServer(
    {
      host: config.host,
      port: config.httpPort,
      bodyLimitBytes: Math.ceil((requestBytes * 4) / 3),
      requestTimeoutMs: config.httpRequestTimeoutMs,
      responseWriteTimeoutMs: config.responseWriteTimeoutMs,
      metrics: async () => ({
        contentType: metrics.registry.contentType,
        body: await metrics.registry.metrics(),
      }),
      mcp: wireMcp(config, service, sessions, logger),
    },
    service,
    sessions,
    admission,
    logger,
  );
  return { health, grpc, http };
}

/** No token and no trusted network: every caller is admitted, which the operator should see. */
function noteOpenEndpoints(config: Config, logger: Logger): void {
  // Config only lets this happen off loopback when SANDBOX_ALLOW_UNAUTHENTICATED says so.
  const level = isLoopback(config.host) ? 'info' : 'warn';
  logger[level](
    { host: config.host },
    'neither SANDBOX_AUTH_TOKEN nor SANDBOX_TRUSTED_NETWORKS is set: the execution endpoints are open',
  );
}

/** The MCP server's tools, described with what the sandbox images hold, and its identity. */
function wireMcp(config: Config, service: ExecutionService, sessions: SessionService, logger: Logger) {
  const packages = loadSandboxImagePackages(join(packageRoot(), SANDBOX_IMAGES_FILE));
  return {
    toolbox: sandboxToolbox(service, sessions, sandboxFacts(config, packages), logger),
    info: { name: 'code-sandbox', version: packageVersion() },
  };
}
