import { describe, expect, it } from 'vitest';
import { resolveLimits, type Limits } from '../../src/domain/limits.js';
import { InvalidArgumentError } from '../../src/errors/service-error.js';

const defaults: Limits = {
  timeoutMs: 10_000,
  memoryBytes: 256e6,
  cpuMillicores: 1000,
  maxProcesses: 64,
  outputBytes: 1e6,
};
const ceilings: Limits = {
  timeoutMs: 60_000,
  memoryBytes: 1e9,
  cpuMillicores: 2000,
  maxProcesses: 256,
  outputBytes: 8e6,
};

describe('resolveLimits', () => {
  it('fills unset limits with the defaults', () => {
    expect(resolveLimits({}, defaults, ceilings)).toEqual(defaults);
  });

  it('lets a request lower or raise a limit up to the ceiling, and lowers anything above it', () => {
    expect(
      resolveLimits({ timeoutMs: 500, memoryBytes: 5e9, maxProcesses: 100 }, defaults, ceilings),
    ).toEqual({
      ...defaults,
      timeoutMs: 500,
      memoryBytes: 1e9,
      maxProcesses: 100,
    });
  });

  it.each([
    [{ timeoutMs: -1 }, 'limits.timeout_ms'],
    [{ memoryBytes: 1.5 }, 'limits.memory_bytes'],
    [{ memoryBytes: 1024 }, 'limits.memory_bytes'],
    [{ cpuMillicores: Number.NaN }, 'limits.cpu_millicores'],
    [{ maxProcesses: 1 }, 'limits.max_processes'],
    [{ outputBytes: Number.POSITIVE_INFINITY }, 'limits.output_bytes'],
  ])('refuses %o naming %s', (requested, field) => {
    expect(() => resolveLimits(requested, defaults, ceilings)).toThrow(InvalidArgumentError);
    expect(() => resolveLimits(requested, defaults, ceilings)).toThrow(field);
  });
});
