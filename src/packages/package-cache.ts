import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PackageCacheIndex, type CacheIndexSnapshot } from './package-cache-index.js';

/**
 * Downloaded archives (wheels, sdists, npm tarballs) on the host, content-addressed: `blobs/<sha256>`,
 * found through `index.json` by (index URL, upstream URL). Bounded by bytes (LRU) and kept across
 * restarts. It lives under the service's work root and is never mounted into a sandbox: sandboxes
 * only ever receive bytes the service read from it, so nothing in a sandbox can change it.
 */
export class PackageCache {
  private index: PackageCacheIndex;
  /** Index writes in order: a later snapshot never lands before an earlier one. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly directory: string,
    private readonly maxBytes: number,
    private readonly logger: Logger,
  ) {
    this.index = new PackageCacheIndex(maxBytes);
  }

  /** Opens (creating it if needed) the cache in `directory`; an unreadable index starts empty. */
  static async open(directory: string, maxBytes: number, logger: Logger): Promise<PackageCache> {
    const cache = new PackageCache(directory, maxBytes, logger);
    await mkdir(join(directory, 'blobs'), { recursive: true, mode: 0o700 });
    try {
      const snapshot = JSON.parse(
        await readFile(join(directory, 'index.json'), 'utf8'),
      ) as CacheIndexSnapshot;
      if (snapshot.version === 1 && Array.isArray(snapshot.entries)) {
        cache.index = PackageCacheIndex.fromSnapshot(snapshot, maxBytes);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        logger.warn({ err: error }, 'package cache index unreadable; starting with an empty cache');
      }
    }
    return cache;
  }

  get bytes(): number {
    return this.index.bytes;
  }

  /**
   * The archive `url` of `index`, or undefined on a miss. A blob whose bytes no longer hash to its name
   * (disk corruption, an operator's edit) is dropped and reported as a miss.
   */
  async get(index: string, url: string): Promise<Buffer | undefined> {
    const entry = this.index.lookup(index, url);
    if (!entry) return undefined;
    try {
      const content = await readFile(this.blobPath(entry.sha256));
      if (sha256Of(content) === entry.sha256) return content;
      this.logger.warn(
        { url, sha256: entry.sha256 },
        'cached package archive does not match its hash; refetching',
      );
    } catch {
      // Missing blob: a miss.
    }
    return undefined;
  }

  /** Stores an archive fetched from `url` of `index` (its hash already verified by the caller). */
  async put(index: string, url: string, content: Buffer): Promise<void> {
    const sha256 = sha256Of(content);
    if (content.length > this.maxBytes) return;
    const temporary = join(this.directory, 'blobs', `.${randomUUID()}`);
    await writeFile(temporary, content, { mode: 0o600 });
    await rename(temporary, this.blobPath(sha256));
    const { orphanedBlobs } = this.index.add({ index, url, sha256, size: content.length });
    await Promise.all(orphanedBlobs.map((blob) => rm(this.blobPath(blob), { force: true })));
    await this.save();
  }

  private blobPath(sha256: string): string {
    return join(this.directory, 'blobs', sha256);
  }

  private save(): Promise<void> {
    const text = JSON.stringify(this.index.snapshot());
    this.saving = this.saving.then(async () => {
      const temporary = join(this.directory, `.index-${randomUUID()}.json`);
      await writeFile(temporary, text, { mode: 0o600 });
      await rename(temporary, join(this.directory, 'index.json'));
    });
    return this.saving;
  }
}

export function sha256Of(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}
