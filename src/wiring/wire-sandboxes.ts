import { join } from 'node:path';
import type { Logger } from 'pino';
import { wireSessionRegistry } from './wire-session-registry.js';
import type { Config } from '../config/config.js';
import { packageRoot } from '../config/package-root.js';
import type { Language } from '../domain/languages.js';
import { resolveLimits } from '../domain/limits.js';
import type { EgressGateway } from '../egress/egress-gateway.js';
import type { PrometheusMetrics } from '../observability/prometheus-metrics.js';
import type { PackageMirror } from '../packages/package-mirror.js';
import { ContainerdEngine } from '../sandbox/containerd/containerd-engine.js';
import { DockerPackageInstaller } from '../sandbox/docker-package-installer.js';
import { PooledSandboxRunner } from '../sandbox/pooled-sandbox-runner.js';
import { DockerEngine } from '../sandbox/docker/docker-engine.js';
import type { DockerClient } from '../sandbox/docker/docker-client.js';
import type { DockerOperation } from '../sandbox/docker/docker-errors.js';
import { installLauncherFiles } from '../sandbox/docker/launcher-files.js';
import { loadSeccompProfile } from '../sandbox/docker/seccomp-profile.js';
import type { SandboxEngine } from '../sandbox/engine/sandbox-engine.js';
import { SandboxActivity } from '../sandbox/lifecycle/sandbox-activity.js';
import { SandboxFactory } from '../sandbox/lifecycle/sandbox-factory.js';
import { SandboxReaper } from '../sandbox/lifecycle/sandbox-reaper.js';
import { SandboxTeardown } from '../sandbox/lifecycle/sandbox-teardown.js';
import { UnixSocketLiveness } from '../sandbox/lifecycle/unix-socket-liveness.js';
import type { WarmPool } from '../sandbox/pool/warm-pool.js';
import { wirePools } from './wire-pools.js';
import { jobsRootOfAllInstances, jobsRootOfThisInstance } from './work-root-layout.js';

/** See SandboxTeardownOptions.removalDelayMs. */
const TEARDOWN_DELAY_MS = 1000;
/** The seccomp profile SANDBOX_ENABLE_SECCOMP applies, relative to the package root. */
const SECCOMP_PROFILE_PATH = 'seccomp/sandbox-profile.json';

/** What the sandbox layer hands to the layers above it. */
export interface SandboxLayer {
  /** dockerd's client (sessions' checkpoints are dockerd-only; configuration refuses sessions on containerd). */
  docker: DockerClient;
  runner: PooledSandboxRunner;
  engine: SandboxEngine;
  factory: SandboxFactory;
  reaper: SandboxReaper;
  liveness: UnixSocketLiveness;
  teardown: SandboxTeardown;
  activity: SandboxActivity;
  pools: Partial<Record<Language, WarmPool>>;
  /** Package installs (docs/packages.md); undefined when the operator named no index. */
  installer: DockerPackageInstaller | undefined;
}

/** Docker, the reaper (which runs once before anything starts), the factory, teardown, pools, runner. */
export async function wireSandboxes(
  config: Config,
  docker: DockerClient,
  metrics: PrometheusMetrics,
  egress: EgressGateway | undefined,
  mirrors: Partial<Record<Language, PackageMirror>>,
  logger: Logger,
): Promise<SandboxLayer> {
  const onDockerError = (operation: DockerOperation) => metrics.dockerError(operation);
  const engine = wireEngine(config, docker, onDockerError, logger);
  // The launcher files and seccomp profile first: a broken install fails before we announce anything.
  const { factory, runtimeHostDir, seccompProfile } = await wireFactory(
    config,
    engine,
    docker,
    egress,
    onDockerError,
    logger,
  );
  // Installs run in a sandbox of their own, on dockerd (config refuses packages on containerd).
  const installer =
    Object.keys(mirrors).length === 0
      ? undefined
      : new DockerPackageInstaller({
          docker,
          dockerSocket: config.dockerSocket,
          instanceId: config.instanceId,
          runtime: config.sandboxRuntime,
          images: config.images,
          jobsRoot: jobsRootOfThisInstance(config),
          runtimeHostDir,
          scratchBytes: config.scratchBytes,
          seccompProfile,
          mirrors,
          maxInstalledBytes: config.packages.maxBytes,
          expiryMarginMs: config.expiryMarginMs,
          metrics,
          onDockerError,
          logger,
        });
  const { liveness, reaper } = await wireReaper(config, engine, onDockerError, logger);
  // Executions and refills come first; removals wait for a quiet moment (bounded).
  const activity = new SandboxActivity();
  const teardown = new SandboxTeardown({
    concurrency: config.teardownConcurrency,
    removalDelayMs: TEARDOWN_DELAY_MS,
    deferWhile: () => activity.busy,
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
  const runner = new PooledSandboxRunner({
    engine,
    runtime: config.sandboxRuntime,
    images: config.images,
    factory,
    teardown,
    activity,
    pools,
    artifactLimits: { maxCount: config.maxArtifacts, maxBytes: config.maxArtifactBytes },
    maxReturnValueBytes: config.maxReturnValueBytes,
    expiryMarginMs: config.expiryMarginMs,
    installer,
    installTimeoutMs: config.packages.installTimeoutMs,
    logger,
  });
  return { docker, runner, engine, factory, reaper, liveness, teardown, activity, pools, installer };
}

/** The engine SANDBOX_BACKEND names. */
function wireEngine(
  config: Config,
  docker: DockerClient,
  onDockerError: (operation: DockerOperation) => void,
  logger: Logger,
): SandboxEngine {
  if (config.backend === 'docker') {
    return new DockerEngine({ docker, dockerSocket: config.dockerSocket, onDockerError, logger });
  }
  return new ContainerdEngine({
    ...config.containerd,
    // Each instance's FIFOs in a directory of its own, like its job directories.
    fifoRoot: join(config.workRoot, 'fifos', config.instanceId),
    onDockerError,
    logger,
  });
}

/** This instance's liveness announcement and the reaper, which has run once when this resolves. */
async function wireReaper(
  config: Config,
  engine: SandboxEngine,
  onDockerError: (operation: DockerOperation) => void,
  logger: Logger,
): Promise<{ liveness: UnixSocketLiveness; reaper: SandboxReaper }> {
  const jobsRoot = jobsRootOfAllInstances(config);
  // Announced before anything of ours exists, so no reaper ever sees our sandboxes without it.
  const liveness = new UnixSocketLiveness({
    directory: join(config.workRoot, 'instances'),
    instanceId: config.instanceId,
  });
  await liveness.announce();
  const reaper = new SandboxReaper({
    containers: engine,
    instanceId: config.instanceId,
    jobsRoot,
    liveness,
    // A session's job directory (its upload inbox) lives as long as the session may.
    jobDirMaxAgeMs:
      Math.max(config.limitCeilings.timeoutMs, config.sessionMaxLifetimeMs) + config.expiryMarginMs,
    spared: async () => {
      const records = (await wireSessionRegistry(config)?.load())?.records ?? [];
      return {
        containerIds: new Set(records.map((record) => record.sandbox.containerId)),
        jobHostDirs: new Set(records.map((record) => record.sandbox.jobHostDir)),
      };
    },
    onDockerError,
    logger,
  });
  await reaper.reap(true).catch((error: unknown) => {
    logger.warn({ err: error }, 'start-up reap failed');
    onDockerError('reap');
  });
  reaper.startPeriodic(config.reapIntervalMs);
  return { liveness, reaper };
}

/** The factory every sandbox comes from: launcher files installed, seccomp profile loaded. */
async function wireFactory(
  config: Config,
  engine: SandboxEngine,
  docker: DockerClient,
  egress: EgressGateway | undefined,
  onDockerError: (operation: DockerOperation) => void,
  logger: Logger,
): Promise<{ factory: SandboxFactory; runtimeHostDir: string; seccompProfile: string | undefined }> {
  const runtimeHostDir = await installLauncherFiles(join(packageRoot(), 'sandbox-runtime'), config.workRoot);
  const seccompProfile = config.seccomp
    ? await loadSeccompProfile(join(packageRoot(), SECCOMP_PROFILE_PATH))
    : undefined;
  const factory = new SandboxFactory({
    engine,
    // Adopting a paused session's container after a restart: a dockerd checkpoint.
    ...(config.backend === 'docker' ? { docker } : {}),
    instanceId: config.instanceId,
    runtime: config.sandboxRuntime,
    images: config.images,
    jobsRoot: jobsRootOfThisInstance(config),
    runtimeHostDir,
    scratchBytes: config.scratchBytes,
    seccompProfile,
    preload: config.preload,
    egress,
    onDockerError,
    logger,
  });
  return { factory, runtimeHostDir, seccompProfile };
}
