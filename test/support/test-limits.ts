import type { Limits } from '../../src/domain/limits.js';

/** Ordinary limits for tests without Docker; a test overrides what it is about. */
export function testLimits(overrides: Partial<Limits> = {}): Limits {
  return {
    timeoutMs: 5000,
    memoryBytes: 256 * 1024 * 1024,
    cpuMillicores: 1000,
    maxProcesses: 64,
    outputBytes: 1000,
    ...overrides,
  };
}
