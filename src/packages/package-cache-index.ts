/**
 * One cached archive: which upstream URL of which index it was fetched from, and the content's
 * sha256 (its blob's name). Two keys may share a blob when two URLs serve the same bytes.
 */
export interface CacheEntry {
  /** The index (SANDBOX_PYPI_INDEX_URL or SANDBOX_NPM_REGISTRY_URL) the archive was listed by. */
  index: string;
  /** The upstream URL the archive was downloaded from. */
  url: string;
  sha256: string;
  size: number;
  /** Last use, as a counter (monotonic across restarts: it is persisted with the entries). */
  lastUsed: number;
}

/** The persisted form of the index (version 1). */
export interface CacheIndexSnapshot {
  version: 1;
  clock: number;
  entries: CacheEntry[];
}

const keyOf = (index: string, url: string): string => `${index}\n${url}`;

/**
 * The cache's bookkeeping, without any I/O: entries by (index, URL), bytes held (each blob counted
 * once), least-recently-used eviction. An entry is found only under the index it was fetched for,
 * so one index can never be served an archive another index listed.
 */
export class PackageCacheIndex {
  private readonly entries = new Map<string, CacheEntry>();
  private clock = 0;

  constructor(private readonly maxBytes: number) {}

  /** Rebuilds the index from a snapshot (entries whose blob is gone are left out by the caller). */
  static fromSnapshot(snapshot: CacheIndexSnapshot, maxBytes: number): PackageCacheIndex {
    const index = new PackageCacheIndex(maxBytes);
    index.clock = snapshot.clock;
    for (const entry of snapshot.entries) index.entries.set(keyOf(entry.index, entry.url), { ...entry });
    return index;
  }

  snapshot(): CacheIndexSnapshot {
    return {
      version: 1,
      clock: this.clock,
      entries: [...this.entries.values()].map((entry) => ({ ...entry })),
    };
  }

  /** The entry for `url` listed by `index`, marked as used; undefined on a miss. */
  lookup(index: string, url: string): CacheEntry | undefined {
    const entry = this.entries.get(keyOf(index, url));
    if (entry) entry.lastUsed = ++this.clock;
    return entry;
  }

  /** Bytes held on disk: each blob once. */
  get bytes(): number {
    const blobs = new Map<string, number>();
    for (const entry of this.entries.values()) blobs.set(entry.sha256, entry.size);
    let total = 0;
    for (const size of blobs.values()) total += size;
    return total;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Records a new archive and evicts least-recently-used entries until the cache fits again (the new
   * one last: an archive larger than the whole cache is served once and not kept). Returns the blobs
   * no entry refers to any more, for the caller to delete.
   */
  add(entry: Omit<CacheEntry, 'lastUsed'>): { kept: boolean; orphanedBlobs: string[] } {
    const before = new Set([...this.entries.values()].map((existing) => existing.sha256));
    this.entries.set(keyOf(entry.index, entry.url), { ...entry, lastUsed: ++this.clock });
    const byAge = [...this.entries.entries()].sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [key] of byAge) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
    }
    const after = new Set([...this.entries.values()].map((existing) => existing.sha256));
    before.add(entry.sha256);
    return {
      kept: this.entries.has(keyOf(entry.index, entry.url)),
      orphanedBlobs: [...before].filter((sha256) => !after.has(sha256)),
    };
  }
}
