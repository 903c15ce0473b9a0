import { InvalidArgumentError } from '../errors/service-error.js';

/** Resource limits of one execution. All fields are always set once resolved. */
export interface Limits {
  timeoutMs: number;
  memoryBytes: number;
  cpuMillicores: number;
  maxProcesses: number;
  outputBytes: number;
}

/** What a request asked for; an absent field takes the server default. */
export type RequestedLimits = Partial<Limits>;

/** Below these a sandbox cannot start or do anything useful; a request under them is refused. */
export const LIMIT_FLOORS: Readonly<Limits> = Object.freeze({
  timeoutMs: 100,
  memoryBytes: 32 * 1024 * 1024,
  cpuMillicores: 10,
  maxProcesses: 4,
  outputBytes: 1,
});

/**
 * The least memory a session's sandbox is configured with: its kernel must start and answer a cell.
 * Measured under runsc (CreateSession with limits.memory_bytes, then two cells): the Python Jupyter
 * kernel starts at 104 MiB and not at 96 MiB (importing numpy and pandas then needs 160 MiB); the
 * Node.js one at 48 MiB and not at 40 MiB. The larger, with headroom for a slower start.
 */
export const SESSION_MEMORY_FLOOR_BYTES = 128 * 1024 * 1024;

const LIMIT_NAMES: Record<keyof Limits, string> = {
  timeoutMs: 'limits.timeout_ms',
  memoryBytes: 'limits.memory_bytes',
  cpuMillicores: 'limits.cpu_millicores',
  maxProcesses: 'limits.max_processes',
  outputBytes: 'limits.output_bytes',
};

/**
 * Applies server defaults and ceilings: a request may lower a limit, never raise it (a value above
 * the ceiling is lowered to it, and the effective value is reported back). Values that are not
 * positive integers or are below the floor are refused, naming the field.
 */
export function resolveLimits(
  requested: RequestedLimits,
  defaults: Readonly<Limits>,
  ceilings: Readonly<Limits>,
): Limits {
  const resolved = { ...defaults };
  for (const key of Object.keys(LIMIT_NAMES) as (keyof Limits)[]) {
    const value = requested[key];
    if (value === undefined) {
      resolved[key] = Math.min(defaults[key], ceilings[key]);
      continue;
    }
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError('must be a non-negative integer', LIMIT_NAMES[key]);
    }
    if (value < LIMIT_FLOORS[key]) {
      throw new InvalidArgumentError(`must be at least ${LIMIT_FLOORS[key]}`, LIMIT_NAMES[key]);
    }
    resolved[key] = Math.min(value, ceilings[key]);
  }
  return resolved;
}
