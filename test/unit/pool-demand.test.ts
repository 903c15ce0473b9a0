import { describe, expect, it } from 'vitest';
import { PoolDemand } from '../../src/sandbox/pool/pool-demand.js';

const options = { min: 4, max: 8, burstWindowMs: 2_000, lookbackMs: 120_000, headroom: 1.5 };

function claimsAt(demand: PoolDemand, times: number[]): void {
  for (const time of times) demand.recordClaim(time);
}

describe('PoolDemand', () => {
  it('holds the floor while nothing is claimed', () => {
    const demand = new PoolDemand(options);
    expect(demand.peakBurst(0)).toBe(0);
    expect(demand.target(0)).toBe(4);
  });

  it('counts the largest number of claims within one burst window', () => {
    const demand = new PoolDemand(options);
    claimsAt(demand, [0, 10, 20, 5_000, 5_010, 5_020, 5_030, 5_040, 20_000]);
    expect(demand.peakBurst(20_000)).toBe(5);
    // Claims exactly one window apart belong to different bursts.
    const apart = new PoolDemand(options);
    claimsAt(apart, [0, 2_000, 4_000]);
    expect(apart.peakBurst(4_000)).toBe(1);
  });

  it('grows after a burst to the burst plus headroom, ahead of the next one', () => {
    const demand = new PoolDemand(options);
    claimsAt(demand, [1_000, 1_001, 1_002, 1_003, 1_004]);
    expect(demand.target(1_100)).toBe(8); // ceil(5 × 1.5) = 8
    const small = new PoolDemand({ ...options, min: 1 });
    claimsAt(small, [0, 1, 2]);
    expect(small.target(10)).toBe(5); // ceil(3 × 1.5)
  });

  it('never goes beyond the ceiling, however large the burst', () => {
    const demand = new PoolDemand(options);
    claimsAt(
      demand,
      Array.from({ length: 100 }, (_, index) => index),
    );
    expect(demand.target(200)).toBe(8);
  });

  it('shrinks back to the floor once no burst was seen for the lookback', () => {
    const demand = new PoolDemand(options);
    claimsAt(demand, [0, 1, 2, 3, 4, 5]);
    expect(demand.target(60_000)).toBe(8);
    expect(demand.target(119_999)).toBe(8);
    expect(demand.target(120_006)).toBe(4);
  });

  it('follows a falling burst size as larger bursts age out', () => {
    const demand = new PoolDemand({ ...options, min: 1, max: 100 });
    claimsAt(demand, [0, 1, 2, 3, 4, 5, 6, 7]); // 8 at once
    claimsAt(demand, [90_000, 90_001]); // later, only 2 at once
    expect(demand.target(100_000)).toBe(12);
    expect(demand.target(125_000)).toBe(3);
  });

  it('remembers a bounded number of claims under a flood', () => {
    const demand = new PoolDemand({ ...options, max: 100_000 });
    for (let i = 0; i < 10_000; i++) demand.recordClaim(i * 0.01);
    expect(demand.peakBurst(100)).toBe(4096);
  });
});
