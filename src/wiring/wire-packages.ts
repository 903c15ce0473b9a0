import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Language } from '../domain/languages.js';
import type { PackagePolicy } from '../domain/package-request.js';
import { PackageCache } from '../packages/package-cache.js';
import type { PackageMetrics } from '../packages/package-metrics.js';
import { PackageMirror } from '../packages/package-mirror.js';

/** How long one page or archive fetch from an operator's index may take. */
const FETCH_TIMEOUT_MS = 30_000;

/** What requests may install: the allowlist and count, for the languages whose index is named. */
export function packagePolicy(config: Config): PackagePolicy {
  const { packages } = config;
  return {
    allow: packages.allow,
    maxCount: packages.maxCount,
    languages: Object.keys(packages.indexes) as Language[],
  };
}

/**
 * The package mirror of each language whose index the operator named, sharing one host-side cache;
 * none when installing is off (no index, or an empty allowlist).
 */
export async function wirePackageMirrors(
  config: Config,
  metrics: PackageMetrics,
  logger: Logger,
): Promise<Partial<Record<Language, PackageMirror>>> {
  const { packages } = config;
  const languages = Object.keys(packages.indexes) as Language[];
  if (languages.length === 0 || packages.allow.isEmpty()) return {};
  const cache = await PackageCache.open(
    packages.cacheDir,
    packages.cacheMaxBytes,
    logger.child({ component: 'packages' }),
  );
  const mirrors: Partial<Record<Language, PackageMirror>> = {};
  for (const language of languages) {
    mirrors[language] = new PackageMirror({
      language,
      index: packages.indexes[language]!,
      allow: packages.allow,
      cache,
      pageTtlMs: packages.indexTtlMs,
      // An archive larger than the installed-size budget could never be installed.
      maxFetchBytes: packages.maxBytes,
      fetchTimeoutMs: FETCH_TIMEOUT_MS,
      metrics,
      logger,
    });
  }
  logger.info(
    { indexes: packages.indexes, cacheDir: packages.cacheDir, cacheBytes: cache.bytes },
    'package installs enabled',
  );
  return mirrors;
}
