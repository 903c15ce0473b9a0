import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { Language } from '../domain/languages.js';
import { LIMIT_FLOORS, SESSION_MEMORY_FLOOR_BYTES } from '../domain/limits.js';
import { formatBytes } from './format-bytes.js';
import { detectHostResources, type HostResources } from './host-resources.js';
import { readSandboxImages } from './sandbox-images.js';
import { parseTrustedNetworks } from './trusted-networks.js';

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

/** What SANDBOX_INSTANCE_ID accepts; also what a registry file's name must be to count as an id. */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
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

/** An operator's package index: http(s) URL, kept with a trailing "/" (relative paths resolve under it). */
const indexUrl = z
  .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
  .transform((value) => (value.endsWith('/') ? value : `${value}/`))
  .optional();

/** A comma-separated list; entries trimmed, empty ones dropped (each variable checks its entries). */
const commaList = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean),
  );

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
      .regex(INSTANCE_ID_PATTERN, 'letters, digits, "_", "." and "-" only, at most 64')
      .optional(),
    // Which engine runs sandboxes: dockerd (the default) or containerd through its own API.
    SANDBOX_BACKEND: z.enum(['docker', 'containerd']).default('docker'),
    SANDBOX_DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
    SANDBOX_CONTAINERD_SOCKET: z
      .string()
      .startsWith('/', 'must be an absolute path')
      .default('/run/containerd/containerd.sock'),
    SANDBOX_CONTAINERD_NAMESPACE: z
      .string()
      .regex(
        /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/,
        'a containerd namespace name (letters, digits, ".", "_", "-")',
      )
      .default('code-sandbox'),
    SANDBOX_CONTAINERD_RUNTIME_DIR: z
      .string()
      .startsWith('/', 'must be an absolute path')
      .default('/usr/local/lib/code-sandbox/containerd-runtimes'),
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
    // Pausing (checkpoint/restore): an agent's think time between cells is seconds to tens of seconds,
    // a resume costs ~0.6 s; one minute keeps active conversations resident and frees idle memory
    // long before the idle timeout. 0: never pause by idleness.
    SANDBOX_SESSION_PAUSE_AFTER_MS: duration(60_000, 0),
    SANDBOX_MAX_PAUSED_SESSIONS: integer(100, 0, 100_000),
    SANDBOX_SESSION_CHECKPOINT_BUDGET_BYTES: integer(8 * 1024 * MiB, 0),
    // containerd's TMPDIR as this process sees it: each restore leaves a copy there (restore-staging.ts).
    SANDBOX_CHECKPOINT_STAGING_DIR: z.string().startsWith('/', 'must be an absolute path').default('/tmp'),
    // Egress: the operator's allowlist (host[:port], *.domain), the explicit dev switch, per-execution caps.
    SANDBOX_EGRESS_ALLOW: commaList,
    SANDBOX_EGRESS_OPEN: flag,
    SANDBOX_EGRESS_MAX_CONNECTIONS: integer(64, 1, 100_000),
    SANDBOX_EGRESS_MAX_OPEN_CONNECTIONS: integer(8, 1, 1024),
    SANDBOX_EGRESS_MAX_BYTES: integer(32 * MiB, 1),
    // Packages at run time (docs/packages.md): the operator's indexes, allowlist and budgets.
    SANDBOX_PYPI_INDEX_URL: indexUrl,
    SANDBOX_NPM_REGISTRY_URL: indexUrl,
    SANDBOX_PACKAGES_ALLOW: commaList,
    SANDBOX_PACKAGES_MAX_COUNT: integer(16, 1, 256),
    SANDBOX_PACKAGES_INSTALL_TIMEOUT_MS: duration(60_000, 1000),
    SANDBOX_PACKAGES_CACHE_DIR: z.string().startsWith('/', 'must be an absolute path').optional(),
    SANDBOX_PACKAGES_CACHE_MAX_BYTES: integer(512 * MiB, 0),
    SANDBOX_PACKAGES_INDEX_TTL_MS: duration(300_000, 0),
  })
  // A misspelt SANDBOX_ variable would otherwise be silently ignored.
  .strict();

/**
 * The schema for this host: memory and tmpfs sizes at most its memory, CPU shares at most its CPUs,
 * a session's memory at least the kernel floor; image defaults from scripts/sandbox-images.conf.
 */
export function environmentSchema(
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
    // The install sandbox's stage tmpfs holds the installed packages: memory, like the other tmpfs.
    SANDBOX_PACKAGES_MAX_BYTES: memory(128 * MiB, MiB, host),
  });
}

/** Every SANDBOX_* variable of ours (RAGFlow's names, translated before, are not among them). */
export function configurationVariables(): string[] {
  return Object.keys(environmentSchema(detectHostResources()).shape);
}

/** The SANDBOX_* variables once validated, with their defaults filled in. */
export type Environment = z.infer<ReturnType<typeof environmentSchema>>;
