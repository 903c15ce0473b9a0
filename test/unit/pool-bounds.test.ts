import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { defaultPoolBounds } from '../../src/config/pool-bounds.js';

const GiB = 1024 ** 3;

describe('defaultPoolBounds', () => {
  it('derives floor 2 × cores and ceiling 4 × cores on a host with memory to spare', () => {
    expect(defaultPoolBounds({ cpus: 2, memoryBytes: 24 * GiB })).toEqual({ min: 4, max: 8 });
    expect(defaultPoolBounds({ cpus: 8, memoryBytes: 64 * GiB })).toEqual({ min: 16, max: 32 });
  });

  it('keeps idle pools within 1/16 of host memory, at least one sandbox per language', () => {
    // 8 GiB: 512 MiB for two languages at 64 MiB each = 4 per language.
    expect(defaultPoolBounds({ cpus: 4, memoryBytes: 8 * GiB })).toEqual({ min: 4, max: 4 });
    expect(defaultPoolBounds({ cpus: 4, memoryBytes: 1 * GiB })).toEqual({ min: 1, max: 1 });
  });

  it('treats a fractional or zero core count as one core', () => {
    expect(defaultPoolBounds({ cpus: 0, memoryBytes: 24 * GiB })).toEqual({ min: 2, max: 4 });
  });
});

describe('pool configuration', () => {
  const host = { cpus: 2, memoryBytes: 24 * GiB };

  it('defaults to the sizing rule', () => {
    expect(loadConfig({}, host)).toMatchObject({ poolMin: 4, poolMax: 8 });
  });

  it('takes SANDBOX_POOL_SIZE (RAGFlow pool size) as the floor; the ceiling never below it', () => {
    expect(loadConfig({ SANDBOX_POOL_SIZE: '3' }, host)).toMatchObject({ poolMin: 3, poolMax: 8 });
    expect(loadConfig({ SANDBOX_POOL_SIZE: '12' }, host)).toMatchObject({ poolMin: 12, poolMax: 12 });
    expect(loadConfig({ SANDBOX_POOL_SIZE: '0' }, host)).toMatchObject({ poolMin: 0 });
  });

  it('takes SANDBOX_POOL_MAX as the ceiling, lowering the default floor to it', () => {
    expect(loadConfig({ SANDBOX_POOL_MAX: '16' }, host)).toMatchObject({ poolMin: 4, poolMax: 16 });
    expect(loadConfig({ SANDBOX_POOL_MAX: '2' }, host)).toMatchObject({ poolMin: 2, poolMax: 2 });
    expect(loadConfig({ SANDBOX_POOL_SIZE: '5', SANDBOX_POOL_MAX: '5' }, host)).toMatchObject({
      poolMin: 5,
      poolMax: 5,
    });
  });

  it('refuses a ceiling below the floor', () => {
    expect(() => loadConfig({ SANDBOX_POOL_SIZE: '6', SANDBOX_POOL_MAX: '3' }, host)).toThrow(
      /SANDBOX_POOL_MAX: 3 is below SANDBOX_POOL_SIZE \(6\)/,
    );
  });
});
