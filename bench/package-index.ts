// The package index the benchmark's `packages` configuration installs from: small wheels built here
// with Debian's setuptools and wheel, served on loopback (the same index the integration tests use).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPythonDistribution, TestPackageIndex } from '../test/support/package-index.js';

/** One wheel per first-install sample; the first also serves the cached samples. */
export const BENCH_PACKAGES = ['benchpkg0', 'benchpkg1', 'benchpkg2', 'benchpkg3'];

/** Starts the index; resolves with the service environment that installs from it. */
export async function startBenchPackageIndex(): Promise<{ env: Record<string, string>; stop(): void }> {
  const dist = mkdtempSync(join(tmpdir(), 'bench-packages-'));
  const index = new TestPackageIndex();
  for (const name of BENCH_PACKAGES) {
    index.addPython(name, buildPythonDistribution(dist, name, { [`${name}/__init__.py`]: 'VALUE = 1\n' }));
  }
  const port = await index.start();
  return {
    env: {
      SANDBOX_PYPI_INDEX_URL: `http://127.0.0.1:${port}/simple/`,
      SANDBOX_PACKAGES_ALLOW: 'python:benchpkg*',
      // A fresh cache: the first installs are real misses.
      SANDBOX_PACKAGES_CACHE_DIR: join(dist, 'cache'),
    },
    stop: () => index.stop(),
  };
}
