import type { Limits } from '../domain/limits.js';
import { SESSION_MEMORY_FLOOR_BYTES } from '../domain/limits.js';
import type { Environment } from './environment-schema.js';
import { formatBytes } from './format-bytes.js';
import { isLoopback } from './loopback.js';

/**
 * What no single variable's schema can see: values that contradict each other (defaults above
 * ceilings, a per-caller quota above the total) or settings that are unsafe together (no token off
 * loopback). `origins` names the RAGFlow variable a value came from, to report it by that name.
 */
export function configurationProblems(
  e: Environment,
  limits: { defaultLimits: Limits; limitCeilings: Limits },
  origins: Readonly<Record<string, string>>,
): string[] {
  const { defaultLimits, limitCeilings } = limits;
  const problems = defaultsAboveCeilings(defaultLimits, limitCeilings);
  // A session gets at most the memory ceiling: below the floor its kernel does not start.
  if (e.SANDBOX_MAX_SESSIONS > 0 && limitCeilings.memoryBytes < SESSION_MEMORY_FLOOR_BYTES) {
    const variable = 'SANDBOX_MAX_MEMORY_BYTES';
    const name = origins[variable] ? `${origins[variable]} (as ${variable})` : variable;
    problems.push(
      `${name}: ${formatBytes(limitCeilings.memoryBytes)} is below the ${formatBytes(SESSION_MEMORY_FLOOR_BYTES)} a session's kernel needs, and sessions get at most this; raise it, or set SANDBOX_MAX_SESSIONS=0 to turn sessions off`,
    );
  }
  // Session sandboxes are only wired for dockerd so far; on containerd they would start, but nothing
  // has been tested there. Refused up front rather than failing per call.
  if (e.SANDBOX_BACKEND === 'containerd' && e.SANDBOX_MAX_SESSIONS > 0) {
    problems.push(
      'SANDBOX_BACKEND: sessions are not supported on the containerd backend yet; set SANDBOX_MAX_SESSIONS=0 (one-shot executions only) or use SANDBOX_BACKEND=docker',
    );
  }
  // Installs run in an install sandbox that only the dockerd backend starts (docker-package-installer.ts).
  if (e.SANDBOX_BACKEND === 'containerd' && (e.SANDBOX_PYPI_INDEX_URL || e.SANDBOX_NPM_REGISTRY_URL)) {
    problems.push(
      'SANDBOX_BACKEND: packages are not supported on the containerd backend yet; unset SANDBOX_PYPI_INDEX_URL and SANDBOX_NPM_REGISTRY_URL or use SANDBOX_BACKEND=docker',
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
  return problems;
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
