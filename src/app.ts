import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { Logger } from 'pino';
import { isLoopback, type Config } from './config/config.js';
import { ExecutionScheduler } from './execution/execution-scheduler.js';
import { ExecutionService } from './execution/execution-service.js';
import { packageRoot } from './config/package-root.js';
import { LANGUAGES, type Language } from './domain/languages.js';
import { resolveLimits, type Limits } from './domain/limits.js';
import { EgressGateway } from './egress/egress-gateway.js';
import { systemResolver, type HostResolver } from './egress/host-resolver.js';
import { DockerSandboxRunner } from './sandbox/docker-sandbox-runner.js';
import { DEFAULT_POOL_DEMAND, PoolDemand } from './sandbox/pool/pool-demand.js';
import { SandboxActivity } from './sandbox/lifecycle/sandbox-activity.js';
import { SandboxFactory } from './sandbox/lifecycle/sandbox-factory.js';
import { SandboxTeardown } from './sandbox/lifecycle/sandbox-teardown.js';
import { WarmPool } from './sandbox/pool/warm-pool.js';
import { PrometheusMetrics } from './observability/prometheus-metrics.js';
import { installLauncherFiles } from './sandbox/docker/launcher-files.js';
import { loadSeccompProfile } from './sandbox/docker/seccomp-profile.js';
import type { DockerOperation } from './sandbox/docker/docker-errors.js';
import { SandboxReaper } from './sandbox/lifecycle/sandbox-reaper.js';
import { UnixSocketLiveness } from './sandbox/lifecycle/unix-socket-liveness.js';
import { SANDBOX_PROTOCOL } from './sandbox/protocol/sandbox-protocol.js';
import { DockerSessionSandboxes } from './sandbox/docker-session-sandboxes.js';
import { SessionService } from './session/session-service.js';
import { MAX_WAITING_PER_SESSION } from './session/open-session.js';
import { GrpcHealth } from './transport/grpc/grpc-health.js';
import { GrpcServer } from './transport/grpc/grpc-server.js';
import { TokenAuthenticator } from './transport/auth/token-authenticator.js';
import { CallerAdmission, type AddressRange, type TrustedRanges } from './transport/auth/caller-admission.js';
import { dockerNetworkRanges } from './sandbox/docker/docker-network-ranges.js';
import { HttpServer } from './transport/http-server/http-server.js';
import { loadSandboxImagePackages } from './config/sandbox-image-packages.js';
import { SANDBOX_IMAGES_FILE } from './config/sandbox-images.js';
import { sandboxToolbox } from './transport/mcp/sandbox-toolbox.js';
import { sandboxFacts } from './transport/mcp/sandbox-description.js';

/** What the sandbox images hold (read for the MCP tool descriptions), relative to the package root. */
/** A warm sandbox's launcher must have booted (preloads included) within this. */
const WARM_READY_TIMEOUT_MS = 60_000;
/** See SandboxTeardownOptions.removalDelayMs. */
const TEARDOWN_DELAY_MS = 1000;
/** See WarmPoolOptions.refillDelayMs. */
const POOL_REFILL_DELAY_MS = 50;
/** The seccomp profile SANDBOX_ENABLE_SECCOMP applies, relative to the package root. */
const SECCOMP_PROFILE_PATH = 'seccomp/sandbox-profile.json';
/** Sandbox ids are UUIDs (pooled) or execution ids (also UUIDs). */
const SANDBOX_ID_LENGTH = 36;
/** Room for protobuf/JSON framing and base64 (4/3) on top of code + input bytes. */
const REQUEST_OVERHEAD_BYTES = 1024 * 1024;

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

/** What the sandbox layer hands to the layers above it. */
interface SandboxLayer {
  runner: DockerSandboxRunner;
  factory: SandboxFactory;
  reaper: SandboxReaper;
  liveness: UnixSocketLiveness;
  teardown: SandboxTeardown;
  activity: SandboxActivity;
  pools: Partial<Record<Language, WarmPool>>;
}

interface TransportLayer {
  health: GrpcHealth;
  grpc: GrpcServer;
  http: HttpServer;
}

/**
 * The composition root: the only place that constructs concrete adapters. Each wiring step below builds
 * one layer from the layers beneath it, so nothing is used before it exists.
 */
export async function startApp(
  config: Config,
  logger: Logger,
  overrides: AppOverrides = {},
): Promise<RunningApp> {
  warnIfNotGvisor(config, logger);
  for (const notice of config.notices) logger.info(notice);
  const metrics = new PrometheusMetrics();
  // Before anything starts: a trusted docker network that does not exist is a configuration error.
  const trustedRanges = await resolveTrustedRanges(config, logger);
  const egress = wireEgress(config, metrics, overrides.resolveHost ?? systemResolver, logger);
  const sandboxes = await wireSandboxes(config, metrics, egress, logger);
  const { service, scheduler } = wireExecution(config, sandboxes.runner, metrics, logger);
  const { sessions, sessionPools } = wireSessions(config, sandboxes, metrics, logger);
  const idleCounts = (pools: Partial<Record<Language, WarmPool>>) =>
    Object.fromEntries(Object.entries(pools).map(([language, pool]) => [language, pool.idleCount]));
  metrics.observe({
    queued: () => scheduler.waiting,
    running: () => scheduler.running,
    idlePooled: () => idleCounts(sandboxes.pools),
    idleSessionSandboxes: () => idleCounts(sessionPools),
    pooledTarget: () =>
      Object.fromEntries(
        Object.entries(sandboxes.pools).map(([language, pool]) => [language, pool.targetSize]),
      ),
    sandboxesBeingRemoved: () => sandboxes.teardown.inProgress,
    openSessions: () => sessions.openCount,
  });
  const transports = wireTransports(config, service, sessions, trustedRanges, metrics, logger);

  service.start();
  sessions.start();
  await transports.health.start();
  const grpcPort = await transports.grpc.start();
  const httpPort = await transports.http.start();
  logger.info(
    {
      grpcPort,
      httpPort,
      host: config.host,
      instanceId: config.instanceId,
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
        sessions.shutdown(),
        transports.http.stop(),
        transports.grpc.stop(config.shutdownGraceMs + 5_000),
      ]);
      await sandboxes.reaper
        .reap(true)
        .catch((error: unknown) => logger.warn({ err: error }, 'shutdown reap failed'));
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

/**
 * The egress proxies' gateway, or none when the server allows no egress (then sandboxes get no socket,
 * no proxy variables, nothing to try).
 */
function wireEgress(
  config: Config,
  metrics: PrometheusMetrics,
  resolveHost: HostResolver,
  logger: Logger,
): EgressGateway | undefined {
  const { egress } = config;
  if (egress.ceiling.length === 0) return undefined;
  if (egress.open) {
    logger.warn(
      'SANDBOX_EGRESS_OPEN=true: sandboxes may reach any public host through the egress proxy (logged). Development only.',
    );
  }
  const gateway = new EgressGateway({
    socketName: SANDBOX_PROTOCOL.paths.egress_socket,
    caps: {
      maxConnections: egress.maxConnections,
      maxOpenConnections: egress.maxOpenConnections,
      maxBytes: egress.maxBytes,
    },
    resolve: resolveHost,
    metrics,
    logger: logger.child({ component: 'egress' }),
  });
  const tooLong = gateway.checkSocketPath(
    join(config.workRoot, 'jobs', config.instanceId),
    SANDBOX_ID_LENGTH,
  );
  if (tooLong) throw new Error(tooLong);
  return gateway;
}

/** Docker, the reaper (which runs once before anything starts), the factory, teardown, pools, runner. */
async function wireSandboxes(
  config: Config,
  metrics: PrometheusMetrics,
  egress: EgressGateway | undefined,
  logger: Logger,
): Promise<SandboxLayer> {
  const docker = new Docker({ socketPath: config.dockerSocket });
  const jobsRoot = join(config.workRoot, 'jobs');
  const runtimeHostDir = await installLauncherFiles(join(packageRoot(), 'sandbox-runtime'), config.workRoot);
  const onDockerError = (operation: DockerOperation) => metrics.dockerError(operation);
  const seccompProfile = config.seccomp
    ? await loadSeccompProfile(join(packageRoot(), SECCOMP_PROFILE_PATH))
    : undefined;

  // Announced before anything of ours exists, so no reaper ever sees our sandboxes without it.
  const liveness = new UnixSocketLiveness({
    directory: join(config.workRoot, 'instances'),
    instanceId: config.instanceId,
  });
  await liveness.announce();
  const reaper = new SandboxReaper({
    docker,
    instanceId: config.instanceId,
    jobsRoot,
    liveness,
    // A session's job directory (its upload inbox) lives as long as the session may.
    jobDirMaxAgeMs:
      Math.max(config.limitCeilings.timeoutMs, config.sessionMaxLifetimeMs) + config.expiryMarginMs,
    onDockerError,
    logger,
  });
  await reaper.reap(true).catch((error: unknown) => {
    logger.warn({ err: error }, 'start-up reap failed');
    onDockerError('reap');
  });
  reaper.startPeriodic(config.reapIntervalMs);

  const factory = new SandboxFactory({
    docker,
    dockerSocket: config.dockerSocket,
    instanceId: config.instanceId,
    runtime: config.sandboxRuntime,
    images: config.images,
    jobsRoot: join(jobsRoot, config.instanceId),
    runtimeHostDir,
    scratchBytes: config.scratchBytes,
    seccompProfile,
    preload: config.preload,
    egress,
    onDockerError,
    logger,
  });
  // Executions and refills come first; removals wait for a quiet moment (bounded).
  const activity = new SandboxActivity();
  const teardown = new SandboxTeardown({
    concurrency: config.teardownConcurrency,
    removalDelayMs: TEARDOWN_DELAY_MS,
    deferWhile: () => activity.busy,
    onDockerError,
    logger,
  });
  // Sized by their own recent claims between the configured floor and ceiling.
  const pools = wirePools(
    config,
    {
      min: config.poolMin,
      max: config.poolMax,
      fillConcurrency: config.poolFillConcurrency,
      expiryMarginMs: config.limitCeilings.timeoutMs + config.expiryMarginMs,
      session: false,
      limits: resolveLimits({}, config.defaultLimits, config.limitCeilings),
    },
    { factory, teardown, activity },
    metrics,
    logger,
  );
  const runner = new DockerSandboxRunner({
    docker,
    dockerSocket: config.dockerSocket,
    runtime: config.sandboxRuntime,
    images: config.images,
    factory,
    teardown,
    activity,
    pools,
    artifactLimits: { maxCount: config.maxArtifacts, maxBytes: config.maxArtifactBytes },
    maxReturnValueBytes: config.maxReturnValueBytes,
    expiryMarginMs: config.expiryMarginMs,
    logger,
  });
  return { runner, factory, reaper, liveness, teardown, activity, pools };
}

/** What kind of warm pools to keep: their size bounds, how they start and label their sandboxes. */
interface PoolKind {
  /** Floor and ceiling of idle sandboxes per language (the pool follows recent claims between them). */
  min: number;
  max: number;
  fillConcurrency: number;
  expiryMarginMs: number;
  /** Session sandboxes (interpreter started) instead of one-shot ones. */
  session: boolean;
  /** The limits pooled sandboxes boot with: only requests with the same ones can claim them. */
  limits: Readonly<Limits>;
}

/**
 * One warm pool per language (none when `kind.min` is 0), holding sandboxes booted with the server's
 * default limits.
 */
function wirePools(
  config: Config,
  kind: PoolKind,
  parts: { factory: SandboxFactory; teardown: SandboxTeardown; activity: SandboxActivity },
  metrics: PrometheusMetrics,
  logger: Logger,
): Partial<Record<Language, WarmPool>> {
  const pools: Partial<Record<Language, WarmPool>> = {};
  if (kind.min === 0) return pools;
  for (const language of LANGUAGES) {
    pools[language] = new WarmPool({
      language,
      demand: new PoolDemand({ ...DEFAULT_POOL_DEMAND, min: kind.min, max: kind.max }),
      limits: kind.limits,
      maxIdleMs: config.poolMaxIdleMs,
      fillConcurrency: kind.fillConcurrency,
      readyTimeoutMs: WARM_READY_TIMEOUT_MS,
      refillDelayMs: POOL_REFILL_DELAY_MS,
      expiryMarginMs: kind.expiryMarginMs,
      factory: parts.factory,
      teardown: parts.teardown,
      activity: parts.activity,
      session: kind.session,
      onStartFailure: (failed) => metrics.poolStartFailed(failed),
      logger,
    });
  }
  return pools;
}

/** The use case: validation, limits, the bounded queue. */
function wireExecution(
  config: Config,
  runner: DockerSandboxRunner,
  metrics: PrometheusMetrics,
  logger: Logger,
): { service: ExecutionService; scheduler: ExecutionScheduler } {
  const scheduler = new ExecutionScheduler(config.concurrency, config.maxQueued);
  const service = new ExecutionService({
    runner,
    scheduler,
    defaultLimits: config.defaultLimits,
    limitCeilings: config.limitCeilings,
    requestPolicy: {
      maxCodeBytes: config.maxCodeBytes,
      maxFiles: config.maxFiles,
      maxInputBytes: config.maxInputBytes,
      reservedPaths: SANDBOX_PROTOCOL.reservedInputPaths,
      egressCeiling: config.egress.ceiling,
    },
    metrics,
    logger,
  });
  return { service, scheduler };
}

/** Sessions: their use case over dedicated session sandboxes, sharing the factory and the teardown. */
function wireSessions(
  config: Config,
  sandboxes: SandboxLayer,
  metrics: PrometheusMetrics,
  logger: Logger,
): { sessions: SessionService; sessionPools: Partial<Record<Language, WarmPool>> } {
  // A fixed number of warm session sandboxes per language: sessions are created one at a time, not
  // in bursts worth adapting to. A pooled sandbox may become a session at the end of its idle life,
  // so its expiry label covers a whole session after it.
  const poolSize = config.maxSessions === 0 ? 0 : config.sessionPoolSize;
  const sessionPools = wirePools(
    config,
    {
      min: poolSize,
      max: poolSize,
      fillConcurrency: 1,
      expiryMarginMs: config.sessionMaxLifetimeMs + config.expiryMarginMs,
      session: true,
      limits: config.sessionDefaultLimits,
    },
    sandboxes,
    metrics,
    logger,
  );
  const provider = new DockerSessionSandboxes({
    factory: sandboxes.factory,
    teardown: sandboxes.teardown,
    readyTimeoutMs: WARM_READY_TIMEOUT_MS,
    pools: sessionPools,
    maxFileBytes: config.maxArtifactBytes,
    maxDisplayBytes: config.maxArtifactBytes,
    logger,
  });
  const sessions = new SessionService({
    provider,
    instanceId: config.instanceId,
    maxSessions: config.maxSessions,
    maxSessionsPerCaller: config.maxSessionsPerCaller,
    maxLifetimeMs: config.sessionMaxLifetimeMs,
    defaultLimits: config.sessionDefaultLimits,
    limitCeilings: config.limitCeilings,
    policy: {
      maxCodeBytes: config.maxCodeBytes,
      maxFiles: config.maxFiles,
      maxInputBytes: config.maxInputBytes,
      idleTimeoutMs: config.sessionIdleTimeoutMs,
      egressCeiling: config.egress.ceiling,
    },
    maxDownloadBytes: config.maxArtifactBytes,
    metrics,
    logger,
  });
  return { sessions, sessionPools };
}

/**
 * SANDBOX_TRUSTED_NETWORKS as address ranges: CIDRs as given, docker networks looked up through
 * dockerd (their subnets trusted, their gateways excluded).
 */
async function resolveTrustedRanges(config: Config, logger: Logger): Promise<TrustedRanges> {
  const trusted: AddressRange[] = [];
  const excluded: AddressRange[] = [];
  const docker = new Docker({ socketPath: config.dockerSocket });
  for (const entry of config.trustedNetworks) {
    if (entry.kind === 'cidr') {
      (entry.exclude ? excluded : trusted).push(entry);
      continue;
    }
    const ranges = await dockerNetworkRanges(docker, entry.name).catch((error: unknown) => {
      throw new Error(
        `SANDBOX_TRUSTED_NETWORKS: docker network "${entry.name}": ${(error as Error).message}`,
      );
    });
    trusted.push(...ranges.subnets);
    excluded.push(...ranges.gateways);
  }
  const show = (range: AddressRange) => `${range.address}/${range.prefix}`;
  if (trusted.length > 0) {
    logger.info(
      { trusted: trusted.map(show), excluded: excluded.map(show) },
      'calls from these ranges need no token; every other caller does',
    );
  }
  return { trusted, excluded };
}

/**
 * gRPC calls one connection may have open at once: every call the service could be working on or
 * holding for one client (running and queued executions, each session's running and waiting calls)
 * plus health and reflection. More would only be refused later, after their messages were read.
 */
function streamsPerConnection(config: Config): number {
  const sessionCalls = config.maxSessions * (1 + MAX_WAITING_PER_SESSION);
  return config.concurrency + config.maxQueued + sessionCalls + HEALTH_AND_REFLECTION_STREAMS;
}
/** A health watch, a health check and a reflection stream. */
const HEALTH_AND_REFLECTION_STREAMS = 3;

/** Authentication, gRPC (with health) and HTTP, in front of the execution and session services. */
function wireTransports(
  config: Config,
  service: ExecutionService,
  sessions: SessionService,
  trustedRanges: TrustedRanges,
  metrics: PrometheusMetrics,
  logger: Logger,
): TransportLayer {
  const tokens = new TokenAuthenticator(config.authToken);
  if (!tokens.required && trustedRanges.trusted.length === 0) {
    // Config only lets this happen off loopback when SANDBOX_ALLOW_UNAUTHENTICATED says so.
    const level = isLoopback(config.host) ? 'info' : 'warn';
    logger[level](
      { host: config.host },
      'neither SANDBOX_AUTH_TOKEN nor SANDBOX_TRUSTED_NETWORKS is set: the execution endpoints are open',
    );
  }
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
      mcp: {
        toolbox: sandboxToolbox(
          service,
          sessions,
          sandboxFacts(config, loadSandboxImagePackages(join(packageRoot(), SANDBOX_IMAGES_FILE))),
          logger,
        ),
        info: { name: 'code-sandbox', version: packageVersion() },
      },
    },
    service,
    sessions,
    admission,
    logger,
  );
  return { health, grpc, http };
}

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}
