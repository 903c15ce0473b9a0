import { describe, expect, it } from 'vitest';
import { PackageCacheIndex } from '../../src/packages/package-cache-index.js';

const A = 'https://pypi.example/simple/';
const B = 'https://mirror.example/simple/';
const entry = (url: string, sha256: string, size: number, index = A) => ({ index, url, sha256, size });

describe('PackageCacheIndex (bookkeeping of the host-side package cache)', () => {
  it('finds an archive only under the index it was fetched for', () => {
    const cache = new PackageCacheIndex(100);
    cache.add(entry('https://files/a.whl', 'aa', 10));
    expect(cache.lookup(A, 'https://files/a.whl')?.sha256).toBe('aa');
    expect(cache.lookup(B, 'https://files/a.whl')).toBeUndefined();
    expect(cache.lookup(A, 'https://files/other.whl')).toBeUndefined();
  });

  it('evicts the least recently used entries once over its byte bound, and says which blobs to delete', () => {
    const cache = new PackageCacheIndex(100);
    cache.add(entry('u1', 's1', 40));
    cache.add(entry('u2', 's2', 40));
    cache.lookup(A, 'u1'); // u2 is now the least recently used
    const { kept, orphanedBlobs } = cache.add(entry('u3', 's3', 40));
    expect(kept).toBe(true);
    expect(orphanedBlobs).toEqual(['s2']);
    expect(cache.lookup(A, 'u2')).toBeUndefined();
    expect(cache.lookup(A, 'u1')).toBeDefined();
    expect(cache.bytes).toBe(80);
  });

  it('counts a blob shared by two URLs once and deletes it only when no entry uses it', () => {
    const cache = new PackageCacheIndex(100);
    cache.add(entry('u1', 'same', 60));
    cache.add(entry('u1', 'same', 60, B));
    expect(cache.bytes).toBe(60);
    const { orphanedBlobs } = cache.add(entry('u2', 'other', 50));
    // Both "same" entries are older than u2: evicting one keeps the blob, evicting both frees it.
    expect(orphanedBlobs).toEqual(['same']);
    expect(cache.size).toBe(1);
  });

  it('does not keep an archive larger than the whole cache', () => {
    const cache = new PackageCacheIndex(10);
    cache.add(entry('small', 's', 5));
    const { kept, orphanedBlobs } = cache.add(entry('huge', 'h', 50));
    expect(kept).toBe(false);
    expect(orphanedBlobs.sort()).toEqual(['h', 's']);
    expect(cache.bytes).toBe(0);
  });

  it('survives a round trip through its snapshot, recency included', () => {
    const cache = new PackageCacheIndex(100);
    cache.add(entry('u1', 's1', 40));
    cache.add(entry('u2', 's2', 40));
    cache.lookup(A, 'u1');
    const restored = PackageCacheIndex.fromSnapshot(JSON.parse(JSON.stringify(cache.snapshot())), 100);
    expect(restored.add(entry('u3', 's3', 40)).orphanedBlobs).toEqual(['s2']);
  });
});
