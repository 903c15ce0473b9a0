import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { z } from 'zod';
import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import { PackageAllowList } from '../domain/package-allow-list.js';
import { formatZodIssue, zodIssuePath } from '../errors/zod-issue.js';
import { parseOperatorAllowList, parseAllowEntry, type AllowRule } from '../domain/network-policy.js';
import { configurationProblems } from './configuration-problems.js';
import { concurrencyFor, poolBounds, QUEUED_PER_SLOT, sessionsPerCallerDefault } from './derived-defaults.js';
import { environmentSchema, type Environment } from './environment-schema.js';
import { detectHostResources, type HostResources } from './host-resources.js';
import { translateRagflowEnvironment } from './ragflow-environment.js';
import type { TrustedNetwork } from './trusted-networks.js';

// Importers find the configuration's helpers here, whichever file of src/config/ defines them.
export { concurrencyFor, sessionsPerCallerDefault } from './derived-defaults.js';
export { configurationVariables, MAX_TIMER_MS } from './environment-schema.js';
export { isLoopback } from './loopback.js';

/** The service configuration: validated, complete and frozen. */
export interface Config {
  host: string;
  grpcPort: number;
  httpPort: number;
  logLevel: string;
  /** Distinguishes this process's containers from those of other instances sharing one dockerd. */
  instanceId: string;
  /**
   * Whether SANDBOX_INSTANCE_ID named the id. When it did not, a start may take over the id of a stopped
   * instance that left paused sessions in the work root (see resumableInstanceId), so a plain restart
   * keeps them.
   */
  instanceIdFromEnvironment: boolean;
  /** The engine sandboxes run on. */
  backend: 'docker' | 'containerd';
  dockerSocket: string;
  /** containerd's socket, the namespace of our images and containers, the runtime wrappers' directory. */
  containerd: Readonly<{ socket: string; namespace: string; runtimeDir: string }>;
  /** OCI runtime for sandboxes; anything but runsc needs `allowNonGvisorRuntime`. */
  runtime: string;
  allowNonGvisorRuntime: boolean;
  images: { python: string; nodejs: string };
  /** Host directory for per-execution job dirs; must be the same path for dockerd and the service. */
  workRoot: string;
  scratchBytes: number;
  concurrency: number;
  maxQueued: number;
  shutdownGraceMs: number;
  /** How often grpc.health.v1 re-checks readiness. */
  healthCheckIntervalMs: number;
  defaultLimits: Readonly<Limits>;
  limitCeilings: Readonly<Limits>;
  maxCodeBytes: number;
  maxFiles: number;
  maxInputBytes: number;
  /** Caps on what comes back from artifacts/ per execution. */
  maxArtifacts: number;
  maxArtifactBytes: number;
  /** Largest main() return value, as JSON. */
  maxReturnValueBytes: number;
  /** Time a client has to deliver a whole HTTP request. */
  httpRequestTimeoutMs: number;
  /**
   * Warm pool, per language: at least `poolMin` idle pre-started sandboxes (0 = no pool), growing with
   * recent bursts of claims up to `poolMax`.
   */
  poolMin: number;
  poolMax: number;
  poolMaxIdleMs: number;
  poolFillConcurrency: number;
  /** Modules each language's warm program process imports before it is claimed. */
  preload: Readonly<Record<Language, readonly string[]>>;
  /** Used sandboxes removed at once in the background. */
  teardownConcurrency: number;
  /** Shared secret for the execution endpoints; undefined = no token accepted. */
  authToken: string | undefined;
  /** Sources whose calls need no token (RAGFlow's network); everyone else needs the token. */
  trustedNetworks: readonly TrustedNetwork[];
  /** With neither a token nor trusted networks: every caller is admitted ("open"). */
  allowUnauthenticated: boolean;
  /** How often the reaper looks for leftovers of dead or expired sandboxes. */
  reapIntervalMs: number;
  /** How long past its own timeout a sandbox may exist (start-up and teardown included). */
  expiryMarginMs: number;
  /** A response blocked this long on a client that does not read is cut and its execution cancelled. */
  responseWriteTimeoutMs: number;
  /** Sandboxes run under the service's restrictive seccomp profile (RAGFlow's SANDBOX_ENABLE_SECCOMP). */
  seccomp: boolean;
  /**
   * The runtime sandboxes really start with: `runtime`, or with seccomp on runsc the runsc runtime
   * registered with --oci-seccomp (SANDBOX_SECCOMP_RUNTIME), since plain runsc ignores OCI seccomp.
   */
  sandboxRuntime: string;
  /** Lines for the operator about how the environment was read (RAGFlow's variables), logged at start. */
  notices: readonly string[];
  /** Sessions open at once in this process (0 = sessions off). */
  maxSessions: number;
  /** Of those, what one caller (token, trusted address, or the anonymous caller) may hold at once. */
  maxSessionsPerCaller: number;
  /** Default and ceiling of a session's idle timeout. */
  sessionIdleTimeoutMs: number;
  /** A session is closed this long after its creation, whatever happens. */
  sessionMaxLifetimeMs: number;
  /** Warm session sandboxes (interpreter started) kept per language (0 = off). */
  sessionPoolSize: number;
  /** A session without a call for this long is paused (checkpointed); 0 = never. */
  sessionPauseAfterMs: number;
  /** Paused sessions at most (they hold no memory; each holds a checkpoint on disk). */
  maxPausedSessions: number;
  /** Bytes the paused sessions' checkpoints may take on disk together. */
  sessionCheckpointBudgetBytes: number;
  /** containerd's temporary directory as seen from here, where each restore leaves a copy to remove. */
  checkpointStagingDir: string;
  /**
   * The server default limits for a session: a long-lived interpreter (a Jupyter kernel with pandas and
   * matplotlib loaded) needs more memory than one run; at 256 MiB it thrashes under gVisor.
   */
  sessionDefaultLimits: Readonly<Limits>;
  egress: Readonly<EgressConfig>;
  packages: Readonly<PackagesConfig>;
}

/** Controlled egress (src/egress/). */
export interface EgressConfig {
  /** What any request may at most be allowed (empty = no egress at all); in open mode it includes `*`. */
  ceiling: readonly AllowRule[];
  /** Logged-open development mode: any public host on any port, still only through the proxy. */
  open: boolean;
  /** Per execution. */
  maxConnections: number;
  maxOpenConnections: number;
  maxBytes: number;
}

/** Packages at run time (src/packages/, docs/packages.md). */
export interface PackagesConfig {
  /** The operator's index per language (PEP 503 simple index, npm registry); absent = no installs for it. */
  indexes: Readonly<Partial<Record<Language, string>>>;
  allow: PackageAllowList;
  maxCount: number;
  /** Most bytes one install's packages may take once installed. */
  maxBytes: number;
  /** Most time one install may take (it also counts against the request's own timeout). */
  installTimeoutMs: number;
  cacheDir: string;
  cacheMaxBytes: number;
  indexTtlMs: number;
}

export type { HostResources } from './host-resources.js';

/** Thrown by loadConfig; lists every bad variable, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the configuration from environment variables (SANDBOX_*, and RAGFlow's executor-manager
 * names, see ragflow-environment.ts). Pure apart from generating an instance id when none is given,
 * reading the sandbox images' names (scripts/sandbox-images.conf) and, when `host` is not passed,
 * reading this machine's cores and memory. Reports every invalid
 * variable at once.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  host: HostResources = detectHostResources(),
): Config {
  const { e, ragflow } = parseEnvironment(env, host);
  const defaultLimits: Limits = {
    timeoutMs: e.SANDBOX_DEFAULT_TIMEOUT_MS,
    memoryBytes: e.SANDBOX_DEFAULT_MEMORY_BYTES,
    cpuMillicores: e.SANDBOX_DEFAULT_CPU_MILLICORES,
    maxProcesses: e.SANDBOX_DEFAULT_PROCESSES,
    outputBytes: e.SANDBOX_DEFAULT_OUTPUT_BYTES,
  };
  const limitCeilings: Limits = {
    timeoutMs: e.SANDBOX_MAX_TIMEOUT_MS,
    memoryBytes: e.SANDBOX_MAX_MEMORY_BYTES,
    cpuMillicores: e.SANDBOX_MAX_CPU_MILLICORES,
    maxProcesses: e.SANDBOX_MAX_PROCESSES,
    outputBytes: e.SANDBOX_MAX_OUTPUT_BYTES,
  };
  const problems = configurationProblems(e, { defaultLimits, limitCeilings }, ragflow.origins);
  const pool = poolBounds(e.SANDBOX_POOL_SIZE, e.SANDBOX_POOL_MAX, host, problems);
  const egressAllow = parseOperatorAllowList(e.SANDBOX_EGRESS_ALLOW);
  problems.push(...egressAllow.problems.map((problem) => `SANDBOX_EGRESS_ALLOW: ${problem}`));
  if (egressAllow.rules.some((rule) => rule.kind === 'any')) {
    problems.push(
      'SANDBOX_EGRESS_ALLOW: "*" opens egress to everything; set SANDBOX_EGRESS_OPEN=true for that',
    );
  }
  const packagesAllow = PackageAllowList.parse(e.SANDBOX_PACKAGES_ALLOW);
  problems.push(...packagesAllow.problems.map((problem) => `SANDBOX_PACKAGES_ALLOW: ${problem}`));
  if (problems.length > 0) throw new ConfigError(problems);
  return assembleConfig(e, {
    packagesAllow: packagesAllow.list,
    defaultLimits,
    limitCeilings,
    pool,
    egressRules: egressAllow.rules,
    concurrency: e.SANDBOX_CONCURRENCY ?? concurrencyFor(host, defaultLimits.memoryBytes),
    notices: ragflow.notice ? [ragflow.notice] : [],
  });
}

/**
 * The environment with RAGFlow's names translated, validated by the schema; throws ConfigError with
 * every invalid variable, reported by the name the operator set.
 */
function parseEnvironment(env: Record<string, string | undefined>, host: HostResources) {
  const ragflow = translateRagflowEnvironment(withoutEmptyValues(env));
  const parsed = environmentSchema(host).safeParse(ragflow.env);
  if (!parsed.success || ragflow.problems.length > 0) {
    // A value that came from a RAGFlow variable is reported by the name the operator set.
    const named = (issue: z.core.$ZodIssue) => {
      const path = zodIssuePath(issue);
      const origin = ragflow.origins[path];
      return origin ? `${origin} (as ${path}): ${issue.message}` : formatZodIssue(issue);
    };
    throw new ConfigError([...ragflow.problems, ...(parsed.error?.issues ?? []).map(named)]);
  }
  return { e: parsed.data, ragflow };
}

/** What loadConfig computed from several variables at once, before assembling the Config. */
interface Derived {
  defaultLimits: Limits;
  limitCeilings: Limits;
  pool: { min: number; max: number };
  egressRules: readonly AllowRule[];
  packagesAllow: PackageAllowList;
  concurrency: number;
  notices: string[];
}

/** The frozen Config from validated variables and the values derived from them. */
function assembleConfig(e: Environment, derived: Derived): Config {
  const { defaultLimits, limitCeilings, pool, concurrency } = derived;
  const anyHost = parseAllowEntry('*') as AllowRule;
  return Object.freeze({
    host: e.SANDBOX_HOST,
    grpcPort: e.SANDBOX_GRPC_PORT,
    httpPort: e.SANDBOX_HTTP_PORT,
    logLevel: e.SANDBOX_LOG_LEVEL,
    instanceId: e.SANDBOX_INSTANCE_ID ?? randomUUID().slice(0, 8),
    instanceIdFromEnvironment: e.SANDBOX_INSTANCE_ID !== undefined,
    backend: e.SANDBOX_BACKEND,
    dockerSocket: e.SANDBOX_DOCKER_SOCKET,
    containerd: Object.freeze({
      socket: e.SANDBOX_CONTAINERD_SOCKET,
      namespace: e.SANDBOX_CONTAINERD_NAMESPACE,
      runtimeDir: e.SANDBOX_CONTAINERD_RUNTIME_DIR,
    }),
    runtime: e.SANDBOX_RUNTIME,
    allowNonGvisorRuntime: e.SANDBOX_ALLOW_NON_GVISOR_RUNTIME,
    images: Object.freeze({ python: e.SANDBOX_PYTHON_IMAGE, nodejs: e.SANDBOX_NODEJS_IMAGE }),
    workRoot: e.SANDBOX_WORK_ROOT,
    scratchBytes: e.SANDBOX_SCRATCH_BYTES,
    concurrency,
    maxQueued: e.SANDBOX_MAX_QUEUED ?? QUEUED_PER_SLOT * concurrency,
    shutdownGraceMs: e.SANDBOX_SHUTDOWN_GRACE_MS,
    healthCheckIntervalMs: e.SANDBOX_HEALTH_CHECK_INTERVAL_MS,
    defaultLimits: Object.freeze(defaultLimits),
    limitCeilings: Object.freeze(limitCeilings),
    maxCodeBytes: e.SANDBOX_MAX_CODE_BYTES,
    maxFiles: e.SANDBOX_MAX_FILES,
    maxInputBytes: e.SANDBOX_MAX_INPUT_BYTES,
    maxArtifacts: e.SANDBOX_MAX_ARTIFACTS,
    maxArtifactBytes: e.SANDBOX_MAX_ARTIFACT_BYTES,
    maxReturnValueBytes: e.SANDBOX_MAX_RETURN_VALUE_BYTES,
    httpRequestTimeoutMs: e.SANDBOX_HTTP_REQUEST_TIMEOUT_MS,
    poolMin: pool.min,
    poolMax: pool.max,
    poolMaxIdleMs: e.SANDBOX_POOL_MAX_IDLE_MS,
    poolFillConcurrency: e.SANDBOX_POOL_FILL_CONCURRENCY,
    preload: Object.freeze({ python: e.SANDBOX_PRELOAD_PYTHON, nodejs: e.SANDBOX_PRELOAD_NODEJS }),
    teardownConcurrency: e.SANDBOX_TEARDOWN_CONCURRENCY,
    authToken: e.SANDBOX_AUTH_TOKEN,
    trustedNetworks: Object.freeze(e.SANDBOX_TRUSTED_NETWORKS),
    allowUnauthenticated: e.SANDBOX_ALLOW_UNAUTHENTICATED,
    reapIntervalMs: e.SANDBOX_REAP_INTERVAL_MS,
    expiryMarginMs: e.SANDBOX_EXPIRY_MARGIN_MS,
    responseWriteTimeoutMs: e.SANDBOX_RESPONSE_WRITE_TIMEOUT_MS,
    seccomp: e.SANDBOX_ENABLE_SECCOMP,
    sandboxRuntime:
      e.SANDBOX_ENABLE_SECCOMP && e.SANDBOX_RUNTIME === 'runsc'
        ? e.SANDBOX_SECCOMP_RUNTIME
        : e.SANDBOX_RUNTIME,
    notices: Object.freeze(derived.notices),
    maxSessions: e.SANDBOX_MAX_SESSIONS,
    maxSessionsPerCaller:
      e.SANDBOX_MAX_SESSIONS_PER_CALLER ?? sessionsPerCallerDefault(e.SANDBOX_MAX_SESSIONS),
    sessionIdleTimeoutMs: e.SANDBOX_SESSION_IDLE_TIMEOUT_MS,
    sessionMaxLifetimeMs: e.SANDBOX_SESSION_MAX_LIFETIME_MS,
    sessionPoolSize: e.SANDBOX_SESSION_POOL_SIZE,
    sessionPauseAfterMs: e.SANDBOX_SESSION_PAUSE_AFTER_MS,
    maxPausedSessions: e.SANDBOX_MAX_PAUSED_SESSIONS,
    sessionCheckpointBudgetBytes: e.SANDBOX_SESSION_CHECKPOINT_BUDGET_BYTES,
    checkpointStagingDir: e.SANDBOX_CHECKPOINT_STAGING_DIR,
    sessionDefaultLimits: Object.freeze({
      ...defaultLimits,
      memoryBytes: Math.min(e.SANDBOX_SESSION_DEFAULT_MEMORY_BYTES, limitCeilings.memoryBytes),
    }),
    egress: Object.freeze({
      ceiling: Object.freeze(e.SANDBOX_EGRESS_OPEN ? [...derived.egressRules, anyHost] : derived.egressRules),
      open: e.SANDBOX_EGRESS_OPEN,
      maxConnections: e.SANDBOX_EGRESS_MAX_CONNECTIONS,
      maxOpenConnections: e.SANDBOX_EGRESS_MAX_OPEN_CONNECTIONS,
      maxBytes: e.SANDBOX_EGRESS_MAX_BYTES,
    }),
    packages: Object.freeze({
      indexes: Object.freeze({
        ...(e.SANDBOX_PYPI_INDEX_URL ? { python: e.SANDBOX_PYPI_INDEX_URL } : {}),
        ...(e.SANDBOX_NPM_REGISTRY_URL ? { nodejs: e.SANDBOX_NPM_REGISTRY_URL } : {}),
      }),
      allow: derived.packagesAllow,
      maxCount: e.SANDBOX_PACKAGES_MAX_COUNT,
      maxBytes: e.SANDBOX_PACKAGES_MAX_BYTES,
      installTimeoutMs: e.SANDBOX_PACKAGES_INSTALL_TIMEOUT_MS,
      cacheDir: e.SANDBOX_PACKAGES_CACHE_DIR ?? join(e.SANDBOX_WORK_ROOT, 'package-cache'),
      cacheMaxBytes: e.SANDBOX_PACKAGES_CACHE_MAX_BYTES,
      indexTtlMs: e.SANDBOX_PACKAGES_INDEX_TTL_MS,
    }),
  });
}

// An exported-but-empty variable (FOO=) means "not set", as it does for most services.
function withoutEmptyValues(env: Record<string, string | undefined>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('SANDBOX_') && value !== undefined && value !== '') result[key] = value;
  }
  return result;
}
