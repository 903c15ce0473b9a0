import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { Language } from '../domain/languages.js';
import { readSandboxImages } from './sandbox-images.js';
import { LIMIT_FLOORS, SESSION_MEMORY_FLOOR_BYTES, type Limits } from '../domain/limits.js';
import { formatZodIssue, zodIssuePath } from '../errors/zod-issue.js';
import { detectHostResources, type HostResources } from './host-resources.js';
import { defaultPoolBounds } from './pool-bounds.js';
import { translateRagflowEnvironment } from './ragflow-environment.js';
import { parseTrustedNetworks, type TrustedNetwork } from './trusted-networks.js';
import { parseOperatorAllowList, parseAllowEntry, type AllowRule } from '../domain/network-policy.js';

/** The service configuration: validated, complete and frozen. */
export interface Config {
  host: string;
  grpcPort: number;
  httpPort: number;
  logLevel: string;
  /** Distinguishes this process's containers from those of other instances sharing one dockerd. */
  instanceId: string;
  dockerSocket: string;
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
  /**
   * The server default limits for a session: a long-lived interpreter (a Jupyter kernel with pandas and
   * matplotlib loaded) needs more memory than one run; at 256 MiB it thrashes under gVisor.
   */
  sessionDefaultLimits: Readonly<Limits>;
  egress: Readonly<EgressConfig>;
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

export type { HostResources } from './host-resources.js';

const MiB = 1024 * 1024;

/**
 * Job directories are written on the request path, while dockerd's container churn keeps the disk's
 * journal busy (measured: 15-90 ms stalls on ext4). RAM-backed /dev/shm avoids that; it only holds
 * each running execution's code and inputs.
 */
function defaultWorkRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm/code-sandbox' : join(tmpdir(), 'code-sandbox');
}

const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, tooBig?: string) =>
  z.coerce.number().int().min(min).max(max, tooBig).default(fallback);
/**
 * Every duration ends up in a Node timer, and Node fires a timer whose delay is above 2^31-1 ms (about
 * 24.8 days) after 1 ms instead (TimeoutOverflowWarning): SANDBOX_TIMEOUT=36000m would end every run
 * as a timeout at once. So no duration may exceed it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const duration = (fallback: number, min: number) =>
  integer(
    fallback,
    min,
    MAX_TIMER_MS,
    `at most ${MAX_TIMER_MS} ms (about 24.8 days): Node's timers fire at once beyond it`,
  );
/**
 * Memory a sandbox or its tmpfs may use: at most the host's memory, since a larger cgroup limit is no
 * limit at all (SANDBOX_MAX_MEMORY=99999g would give every sandbox 97 TiB).
 */
const memory = (fallback: number, min: number, host: HostResources) =>
  integer(
    fallback,
    min,
    host.memoryBytes,
    `at most this host's memory (${formatBytes(host.memoryBytes)}): a larger limit is no limit`,
  );
/**
 * Docker refuses a container whose NanoCpus exceed the host's CPUs ("Range of CPUs is from 0.01 to
 * N.00"), so a CPU share above them would fail every start.
 */
const millicores = (fallback: number, host: HostResources) =>
  integer(
    fallback,
    10,
    Math.max(1, host.cpus) * 1000,
    `at most ${Math.max(1, host.cpus) * 1000} (this host's ${Math.max(1, host.cpus)} CPUs): Docker refuses more`,
  );
/**
 * Bytes the service holds in its own memory per stream of every running execution, and that /run
 * returns inside one JSON document (V8 strings stop at 512 MiB, and JSON escaping can multiply
 * bytes by six).
 */
const MAX_OUTPUT_BYTES = 64 * MiB;
/**
 * Code and inputs arrive in one request, base64 in JSON over HTTP (4/3 of their size): with these
 * bounds the largest body stays under the 512 MiB a V8 string can hold.
 */
const MAX_CODE_BYTES = 64 * MiB;
const MAX_INPUT_BYTES = 256 * MiB;
const port = (fallback: number) => integer(fallback, 0, 65535);
// RAGFlow's manager also accepts "on"/"off" and any case (executor_manager/util.py is_enabled).
const flag = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']))
  .default('false')
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));

const moduleList = z
  .string()
  .regex(/^[A-Za-z0-9_.@/-]*(,[A-Za-z0-9_.@/-]+)*$/, 'a comma-separated list of module names')
  .default('')
  .transform((value) => value.split(',').filter(Boolean));

/**
 * The variables whose bounds and defaults do not depend on the host or on files; environmentSchema
 * adds the rest (memory, tmpfs, CPU, images).
 */
const staticSchema = z
  .object({
    SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
    SANDBOX_GRPC_PORT: port(50051),
    SANDBOX_HTTP_PORT: port(9385),
    SANDBOX_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SANDBOX_INSTANCE_ID: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-" only, at most 64')
      .optional(),
    SANDBOX_DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
    SANDBOX_RUNTIME: z.string().min(1).default('runsc'),
    SANDBOX_ALLOW_NON_GVISOR_RUNTIME: flag,
    SANDBOX_WORK_ROOT: z.string().startsWith('/', 'must be an absolute path').default(defaultWorkRoot()),
    // Defaults derived from the host: see concurrencyFor.
    SANDBOX_CONCURRENCY: z.coerce.number().int().min(1).max(1024).optional(),
    SANDBOX_MAX_QUEUED: z.coerce.number().int().min(0).max(100_000).optional(),
    SANDBOX_SHUTDOWN_GRACE_MS: duration(10_000, 0),
    SANDBOX_HEALTH_CHECK_INTERVAL_MS: duration(5_000, 100),
    SANDBOX_DEFAULT_TIMEOUT_MS: duration(10_000, LIMIT_FLOORS.timeoutMs),
    SANDBOX_MAX_TIMEOUT_MS: duration(60_000, LIMIT_FLOORS.timeoutMs),
    SANDBOX_DEFAULT_PROCESSES: integer(64, 4, 4096),
    SANDBOX_MAX_PROCESSES: integer(256, 4, 4096),
    SANDBOX_DEFAULT_OUTPUT_BYTES: integer(1 * MiB, 1, MAX_OUTPUT_BYTES),
    SANDBOX_MAX_OUTPUT_BYTES: integer(8 * MiB, 1, MAX_OUTPUT_BYTES),
    SANDBOX_MAX_CODE_BYTES: integer(1 * MiB, 1, MAX_CODE_BYTES),
    SANDBOX_MAX_FILES: integer(64, 0, 10_000),
    SANDBOX_MAX_INPUT_BYTES: integer(16 * MiB, 0, MAX_INPUT_BYTES),
    SANDBOX_MAX_ARTIFACTS: integer(16, 0, 10_000),
    SANDBOX_MAX_ARTIFACT_BYTES: integer(10 * MiB, 0, 256 * MiB),
    // At most 3 MiB so that a result message (value + at most 100 skipped artifacts + detail) stays
    // under the 4 MiB a default gRPC client accepts.
    SANDBOX_MAX_RETURN_VALUE_BYTES: integer(1 * MiB, 1, 3 * MiB),
    SANDBOX_HTTP_REQUEST_TIMEOUT_MS: duration(30_000, 100),
    // Both default to the sizing rule in pool-bounds.ts (from the host's cores and memory).
    SANDBOX_POOL_SIZE: z.coerce.number().int().min(0).max(256).optional(),
    SANDBOX_POOL_MAX: z.coerce.number().int().min(1).max(256).optional(),
    SANDBOX_POOL_MAX_IDLE_MS: duration(600_000, 1000),
    SANDBOX_POOL_FILL_CONCURRENCY: integer(2, 1, 16),
    SANDBOX_PRELOAD_PYTHON: moduleList,
    SANDBOX_PRELOAD_NODEJS: moduleList,
    SANDBOX_TEARDOWN_CONCURRENCY: integer(2, 1, 32),
    SANDBOX_AUTH_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    SANDBOX_ALLOW_UNAUTHENTICATED: flag,
    SANDBOX_REAP_INTERVAL_MS: duration(60_000, 100),
    SANDBOX_EXPIRY_MARGIN_MS: duration(120_000, 0),
    SANDBOX_RESPONSE_WRITE_TIMEOUT_MS: duration(30_000, 100),
    SANDBOX_TRUSTED_NETWORKS: z
      .string()
      .default('')
      .transform((value, context) => {
        const parsed = parseTrustedNetworks(value);
        if (parsed instanceof Error) {
          context.addIssue({ code: z.ZodIssueCode.custom, message: parsed.message });
          return z.NEVER;
        }
        return parsed;
      }),
    // A name shared with RAGFlow's manager, with the same meaning.
    SANDBOX_ENABLE_SECCOMP: flag,
    SANDBOX_SECCOMP_RUNTIME: z.string().min(1).default('runsc-seccomp'),
    SANDBOX_MAX_SESSIONS: integer(8, 0, 1024),
    // Default: half of SANDBOX_MAX_SESSIONS (see sessionsPerCallerDefault).
    SANDBOX_MAX_SESSIONS_PER_CALLER: z.coerce.number().int().min(1).max(1024).optional(),
    SANDBOX_SESSION_IDLE_TIMEOUT_MS: duration(600_000, 1000),
    SANDBOX_SESSION_MAX_LIFETIME_MS: duration(3_600_000, 1000),
    SANDBOX_SESSION_POOL_SIZE: integer(1, 0, 64),
    // Egress: the operator's allowlist (host[:port], *.domain), the explicit dev switch, per-execution caps.
    SANDBOX_EGRESS_ALLOW: z
      .string()
      .default('')
      .transform((value) =>
        value
          .split(',')
          .map((entry) => entry.trim())
          .filter(Boolean),
      ),
    SANDBOX_EGRESS_OPEN: flag,
    SANDBOX_EGRESS_MAX_CONNECTIONS: integer(64, 1, 100_000),
    SANDBOX_EGRESS_MAX_OPEN_CONNECTIONS: integer(8, 1, 1024),
    SANDBOX_EGRESS_MAX_BYTES: integer(32 * MiB, 1),
  })
  // A misspelt SANDBOX_ variable would otherwise be silently ignored.
  .strict();

/**
 * The schema for this host: memory and tmpfs sizes at most its memory, CPU shares at most its CPUs,
 * a session's memory at least the kernel floor; image defaults from scripts/sandbox-images.conf.
 */
function environmentSchema(
  host: HostResources,
  images: Readonly<Record<Language, string>> = readSandboxImages(),
) {
  return staticSchema.extend({
    SANDBOX_PYTHON_IMAGE: z.string().min(1).default(images.python),
    SANDBOX_NODEJS_IMAGE: z.string().min(1).default(images.nodejs),
    SANDBOX_SCRATCH_BYTES: memory(64 * MiB, MiB, host),
    SANDBOX_DEFAULT_MEMORY_BYTES: memory(256 * MiB, LIMIT_FLOORS.memoryBytes, host),
    SANDBOX_MAX_MEMORY_BYTES: memory(1024 * MiB, LIMIT_FLOORS.memoryBytes, host),
    SANDBOX_DEFAULT_CPU_MILLICORES: millicores(1000, host),
    SANDBOX_MAX_CPU_MILLICORES: millicores(1000, host),
    SANDBOX_SESSION_DEFAULT_MEMORY_BYTES: memory(512 * MiB, SESSION_MEMORY_FLOOR_BYTES, host),
  });
}

/** Every SANDBOX_* variable of ours (RAGFlow's names, translated before, are not among them). */
export function configurationVariables(): string[] {
  return Object.keys(environmentSchema(detectHostResources()).shape);
}

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
  const e = parsed.data;
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
  const problems = defaultsAboveCeilings(defaultLimits, limitCeilings);
  // A session gets at most the memory ceiling: below the floor its kernel does not start.
  if (e.SANDBOX_MAX_SESSIONS > 0 && limitCeilings.memoryBytes < SESSION_MEMORY_FLOOR_BYTES) {
    const variable = 'SANDBOX_MAX_MEMORY_BYTES';
    const name = ragflow.origins[variable] ? `${ragflow.origins[variable]} (as ${variable})` : variable;
    problems.push(
      `${name}: ${formatBytes(limitCeilings.memoryBytes)} is below the ${formatBytes(SESSION_MEMORY_FLOOR_BYTES)} a session's kernel needs, and sessions get at most this; raise it, or set SANDBOX_MAX_SESSIONS=0 to turn sessions off`,
    );
  }
  if (e.SANDBOX_RUNTIME !== 'runsc' && !e.SANDBOX_ALLOW_NON_GVISOR_RUNTIME) {
    problems.push(
      `SANDBOX_RUNTIME: "${e.SANDBOX_RUNTIME}" is not gVisor; set SANDBOX_ALLOW_NON_GVISOR_RUNTIME=true to run untrusted code without it`,
    );
  }
  if (
    !e.SANDBOX_AUTH_TOKEN &&
    e.SANDBOX_TRUSTED_NETWORKS.length === 0 &&
    !e.SANDBOX_ALLOW_UNAUTHENTICATED &&
    !isLoopback(e.SANDBOX_HOST)
  ) {
    problems.push(
      `SANDBOX_AUTH_TOKEN: required when binding to ${e.SANDBOX_HOST} (not loopback); set it, and/or SANDBOX_TRUSTED_NETWORKS for callers that send none (RAGFlow), or SANDBOX_ALLOW_UNAUTHENTICATED=true to run an open service on purpose`,
    );
  }
  if (
    e.SANDBOX_TRUSTED_NETWORKS.length > 0 &&
    e.SANDBOX_TRUSTED_NETWORKS.every((entry) => entry.kind === 'cidr' && entry.exclude)
  ) {
    problems.push('SANDBOX_TRUSTED_NETWORKS: only exclusions ("!…"); name at least one network to trust');
  }
  if (
    e.SANDBOX_MAX_SESSIONS_PER_CALLER !== undefined &&
    e.SANDBOX_MAX_SESSIONS_PER_CALLER > e.SANDBOX_MAX_SESSIONS
  ) {
    problems.push(
      `SANDBOX_MAX_SESSIONS_PER_CALLER: ${e.SANDBOX_MAX_SESSIONS_PER_CALLER} is more than SANDBOX_MAX_SESSIONS (${e.SANDBOX_MAX_SESSIONS})`,
    );
  }
  const pool = poolBounds(e.SANDBOX_POOL_SIZE, e.SANDBOX_POOL_MAX, host, problems);
  const egressAllow = parseOperatorAllowList(e.SANDBOX_EGRESS_ALLOW);
  problems.push(...egressAllow.problems.map((problem) => `SANDBOX_EGRESS_ALLOW: ${problem}`));
  if (egressAllow.rules.some((rule) => rule.kind === 'any')) {
    problems.push(
      'SANDBOX_EGRESS_ALLOW: "*" opens egress to everything; set SANDBOX_EGRESS_OPEN=true for that',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const concurrency = e.SANDBOX_CONCURRENCY ?? concurrencyFor(host, defaultLimits.memoryBytes);
  const anyHost = parseAllowEntry('*') as AllowRule;

  return Object.freeze({
    host: e.SANDBOX_HOST,
    grpcPort: e.SANDBOX_GRPC_PORT,
    httpPort: e.SANDBOX_HTTP_PORT,
    logLevel: e.SANDBOX_LOG_LEVEL,
    instanceId: e.SANDBOX_INSTANCE_ID ?? randomUUID().slice(0, 8),
    dockerSocket: e.SANDBOX_DOCKER_SOCKET,
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
    notices: Object.freeze(ragflow.notice ? [ragflow.notice] : []),
    maxSessions: e.SANDBOX_MAX_SESSIONS,
    maxSessionsPerCaller:
      e.SANDBOX_MAX_SESSIONS_PER_CALLER ?? sessionsPerCallerDefault(e.SANDBOX_MAX_SESSIONS),
    sessionIdleTimeoutMs: e.SANDBOX_SESSION_IDLE_TIMEOUT_MS,
    sessionMaxLifetimeMs: e.SANDBOX_SESSION_MAX_LIFETIME_MS,
    sessionPoolSize: e.SANDBOX_SESSION_POOL_SIZE,
    sessionDefaultLimits: Object.freeze({
      ...defaultLimits,
      memoryBytes: Math.min(e.SANDBOX_SESSION_DEFAULT_MEMORY_BYTES, limitCeilings.memoryBytes),
    }),
    egress: Object.freeze({
      ceiling: Object.freeze(e.SANDBOX_EGRESS_OPEN ? [...egressAllow.rules, anyHost] : egressAllow.rules),
      open: e.SANDBOX_EGRESS_OPEN,
      maxConnections: e.SANDBOX_EGRESS_MAX_CONNECTIONS,
      maxOpenConnections: e.SANDBOX_EGRESS_MAX_OPEN_CONNECTIONS,
      maxBytes: e.SANDBOX_EGRESS_MAX_BYTES,
    }),
  });
}

/**
 * Executions at once, when SANDBOX_CONCURRENCY is not set. Most sandboxed runs wait (on startup, I/O,
 * sleeps) rather than compute, and a run that does compute is capped at its CPU share and its
 * wall-clock timeout, so slots may outnumber cores: RUNS_PER_CORE of them per core. Memory bounds it
 * too: every running sandbox may use its default memory, and half the host's memory is left to
 * dockerd, runsc and everything else. A 2-core host gets 6, enough for RAGFlow's test burst of 5
 * infinite loops to all run at once (a queued one would wait a whole 10 s timeout, past RAGFlow's 15 s).
 */
export function concurrencyFor(host: HostResources, sandboxMemoryBytes: number): number {
  const byCores = RUNS_PER_CORE * Math.max(1, host.cpus);
  const byMemory = Math.floor(host.memoryBytes / 2 / sandboxMemoryBytes);
  return Math.max(1, Math.min(byCores, byMemory));
}

const RUNS_PER_CORE = 3;

/**
 * SANDBOX_MAX_SESSIONS_PER_CALLER when unset: half of the slots (rounded up), so one caller, or one
 * leaked client loop, can never hold every session for their hour-long lifetime.
 */
export function sessionsPerCallerDefault(maxSessions: number): number {
  return Math.ceil(maxSessions / 2);
}
/**
 * Queue depth per slot: deeper than this, a request would wait several runs' time for a slot and is
 * better refused at once with a retry hint (429) than answered after its client has given up.
 */
const QUEUED_PER_SLOT = 4;

/**
 * SANDBOX_POOL_SIZE (RAGFlow's SANDBOX_EXECUTOR_MANAGER_POOL_SIZE) is the floor and SANDBOX_POOL_MAX
 * the ceiling; whichever is unset comes from the sizing rule, kept consistent with the one that is
 * set. Equal values give a fixed-size pool.
 */
function poolBounds(
  size: number | undefined,
  max: number | undefined,
  host: HostResources,
  problems: string[],
): { min: number; max: number } {
  const derived = defaultPoolBounds(host);
  if (size !== undefined && max !== undefined && max < size) {
    problems.push(`SANDBOX_POOL_MAX: ${max} is below SANDBOX_POOL_SIZE (${size})`);
  }
  const min = size ?? Math.min(derived.min, max ?? derived.min);
  return { min, max: Math.max(min, max ?? derived.max) };
}

/** Loopback addresses only; "0.0.0.0", "::" and hostnames count as reachable from outside. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

// An exported-but-empty variable (FOO=) means "not set", as it does for most services.
function withoutEmptyValues(env: Record<string, string | undefined>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('SANDBOX_') && value !== undefined && value !== '') result[key] = value;
  }
  return result;
}

const LIMIT_VARIABLES: Record<keyof Limits, string> = {
  timeoutMs: 'TIMEOUT_MS',
  memoryBytes: 'MEMORY_BYTES',
  cpuMillicores: 'CPU_MILLICORES',
  maxProcesses: 'PROCESSES',
  outputBytes: 'OUTPUT_BYTES',
};

function defaultsAboveCeilings(defaults: Limits, ceilings: Limits): string[] {
  return (Object.keys(LIMIT_VARIABLES) as (keyof Limits)[])
    .filter((key) => defaults[key] > ceilings[key])
    .map(
      (key) =>
        `SANDBOX_DEFAULT_${LIMIT_VARIABLES[key]}: ${defaults[key]} is above SANDBOX_MAX_${LIMIT_VARIABLES[key]} (${ceilings[key]})`,
    );
}

/** "512 MiB", "23.5 GiB": sizes in messages, as an operator writes them. */
function formatBytes(bytes: number): string {
  const GiB = 1024 * MiB;
  if (bytes >= GiB) return `${Number((bytes / GiB).toFixed(1))} GiB`;
  return `${Number((bytes / MiB).toFixed(1))} MiB`;
}
