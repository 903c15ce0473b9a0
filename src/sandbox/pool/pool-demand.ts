export interface PoolDemandOptions {
  /** Never fewer idle sandboxes than this (the configured floor). */
  min: number;
  /** Never more than this (the configured ceiling). */
  max: number;
  /** Claims this close together count as one burst. */
  burstWindowMs: number;
  /** How long a burst is remembered: the pool shrinks back to its floor after this long without one. */
  lookbackMs: number;
  /**
   * The target is the largest recent burst times this: claims keep arriving while the used sandboxes
   * are being replaced, so the pool needs more than the burst itself.
   */
  headroom: number;
}

export const DEFAULT_POOL_DEMAND: Omit<PoolDemandOptions, 'min' | 'max'> = {
  burstWindowMs: 2_000,
  lookbackMs: 120_000,
  headroom: 1.5,
};

/** Claim times are kept for the lookback only, and never more than this many (a flood needs no more). */
const MAX_REMEMBERED_CLAIMS = 4096;

/**
 * How many idle sandboxes a pool should hold, from its recent claims: the largest number of claims
 * seen within any burst window during the lookback, with headroom, between floor and ceiling. So the
 * pool grows after the first burst of a kind, ahead of the next ones, and shrinks to its floor once
 * bursts stop. Pure decision logic: time comes in as arguments.
 */
export class PoolDemand {
  private readonly claims: number[] = [];

  constructor(private readonly options: PoolDemandOptions) {}

  recordClaim(nowMs: number): void {
    this.forget(nowMs);
    this.claims.push(nowMs);
    if (this.claims.length > MAX_REMEMBERED_CLAIMS) this.claims.shift();
  }

  /** Largest number of claims within one burst window during the lookback ending at `nowMs`. */
  peakBurst(nowMs: number): number {
    this.forget(nowMs);
    let peak = 0;
    let first = 0;
    for (let last = 0; last < this.claims.length; last++) {
      while (this.claims[last]! - this.claims[first]! >= this.options.burstWindowMs) first++;
      peak = Math.max(peak, last - first + 1);
    }
    return peak;
  }

  target(nowMs: number): number {
    const { min, max, headroom } = this.options;
    const wanted = Math.ceil(this.peakBurst(nowMs) * headroom);
    return Math.min(max, Math.max(min, wanted));
  }

  private forget(nowMs: number): void {
    const oldest = nowMs - this.options.lookbackMs;
    let expired = 0;
    while (expired < this.claims.length && this.claims[expired]! < oldest) expired++;
    if (expired > 0) this.claims.splice(0, expired);
  }
}
