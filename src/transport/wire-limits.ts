import type { Limits, RequestedLimits } from '../domain/limits.js';

/** Limits as both APIs spell them (proto field names, also the JSON keys). */
export interface WireLimits {
  timeout_ms: number;
  memory_bytes: number;
  cpu_millicores: number;
  max_processes: number;
  output_bytes: number;
}

const WIRE_NAMES: Record<keyof Limits, keyof WireLimits> = {
  timeoutMs: 'timeout_ms',
  memoryBytes: 'memory_bytes',
  cpuMillicores: 'cpu_millicores',
  maxProcesses: 'max_processes',
  outputBytes: 'output_bytes',
};

export function limitsToWire(limits: Limits): WireLimits {
  const wire = {} as WireLimits;
  for (const [key, name] of Object.entries(WIRE_NAMES) as [keyof Limits, keyof WireLimits][]) {
    wire[name] = limits[key];
  }
  return wire;
}

/**
 * The limits a request asked for. A field that is absent, or for which `isUnset` says so, takes the
 * server default (proto3 cannot tell 0 from unset, so gRPC treats 0 as unset).
 */
export function requestedLimitsFromWire(
  wire: Partial<WireLimits> | null | undefined,
  isUnset: (value: number) => boolean = () => false,
): RequestedLimits {
  const requested: RequestedLimits = {};
  for (const [key, name] of Object.entries(WIRE_NAMES) as [keyof Limits, keyof WireLimits][]) {
    const value = wire?.[name];
    if (value !== undefined && !isUnset(value)) requested[key] = value;
  }
  return requested;
}
