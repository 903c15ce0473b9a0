import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { systemResolver, type HostResolver } from './egress/host-resolver.js';
import { PrometheusMetrics } from './observability/prometheus-metrics.js';
import { dockerClient } from './sandbox/docker/docker-client.js';
import { resolveTrustedRanges } from './sandbox/docker/trusted-ranges.js';
import { wireEgress } from './wiring/wire-egress.js';
import { wireExecution } from './wiring/wire-execution.js';
import { wireMetrics } from './wiring/wire-metrics.js';
import { wirePackageMirrors } from './wiring/wire-packages.js';
import { wireSandboxes } from './wiring/wire-sandboxes.js';
import { wireSessions } from './wiring/wire-sessions.js';
import { resumableInstanceId } from './wiring/resumable-instance-id.js';
import { wireTransports } from './wiring/wire-transports.js';

/** Adapters a caller may replace (tests point the egress resolver at loopback test servers). */
export interface AppOverrides {
  resolveHost?: HostResolver;
}

export interface RunningApp {
  grpcPort: number;
  httpPort: number;
  /** Graceful stop: refuse new work, drain up to the grace period, cancel the rest, remove sandboxes. */
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that constructs concrete adapters. Each wiring step below builds
 * one layer from the layers beneath it, so nothing is used before it exists.
 */
export async function startApp(
  configured: Config,
  logger: Logger,
  overrides: AppOverrides = {},
): Promise<RunningApp> {
  // First: every later step (labels, registry, liveness, session ids) uses the id.
  const config: Config = { ...configured, instanceId: await resumableInstanceId(configured, logger) };
  warnIfNotGvisor(config, logger);
  for (const notice of config.notices) logger.info(notice);
  const metrics = new PrometheusMetrics();
  const docker = dockerClient(config.dockerSocket);
  // Before anything starts: a trusted docker network that does not exist is a configuration error.
  const trustedRanges = await resolveTrustedRanges(docker, config.trustedNetworks, logger);
  const egress = wireEgress(config, metrics, overrides.resolveHost ?? systemResolver, logger);
  const mirrors = await wirePackageMirrors(config, metrics, logger);
  const sandboxes = await wireSandboxes(config, docker, metrics, egress, mirrors, logger);
  const { service, scheduler } = wireExecution(config, sandboxes.runner, metrics, logger);
  const { sessions, sessionPools } = wireSessions(config, sandboxes, metrics, logger);
  wireMetrics(metrics, scheduler, sandboxes, sessionPools, sessions);
  const transports = wireTransports(config, service, sessions, trustedRanges, metrics, logger);

  service.start();
  await sessions.start();
  await transports.health.start();
  const grpcPort = await transports.grpc.start();
  const httpPort = await transports.http.start();
  logger.info(
    {
      grpcPort,
      httpPort,
      host: config.host,
      instanceId: config.instanceId,
      backend: config.backend,
      runtime: config.sandboxRuntime,
      seccomp: config.seccomp,
    },
    'code-sandbox listening',
  );

  return {
    grpcPort,
    httpPort,
    async stop() {
      sandboxes.reaper.stopPeriodic();
      transports.health.stop();
      await Promise.all([
        service.shutdown(config.shutdownGraceMs),
        sessions.shutdown(config.shutdownGraceMs),
        transports.http.stop(),
        transports.grpc.stop(config.shutdownGraceMs + 5_000),
      ]);
      await sandboxes.reaper
        .reap(true)
        .catch((error: unknown) => logger.warn({ err: error }, 'shutdown reap failed'));
      sandboxes.engine.close();
      await sandboxes.liveness.withdraw();
      logger.info('code-sandbox stopped');
    },
  };
}

function warnIfNotGvisor(config: Config, logger: Logger): void {
  if (config.runtime === 'runsc') return;
  logger.warn(
    { runtime: config.runtime },
    `!!! SANDBOX_RUNTIME=${config.runtime}: untrusted code will NOT be isolated by gVisor. Use only for trusted code. !!!`,
  );
}
