import { readFileSync } from 'node:fs';

/**
 * What each sandbox image contains, as scripts/sandbox-images.conf lists it (the file the offline
 * image build reads): image name → its Debian packages. Read, not repeated, so a model is told what
 * the images really hold.
 */
export type SandboxImagePackages = ReadonlyMap<string, readonly string[]>;

/** Parses sandbox-images.conf: `NAME PKG,PKG,…` per line, `#` comments. */
export function parseSandboxImagePackages(text: string): SandboxImagePackages {
  const images = new Map<string, readonly string[]>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [name, packages = ''] = trimmed.split(/\s+/, 2);
    if (name) images.set(name, packages.split(',').filter(Boolean));
  }
  return images;
}

/** Reads the file; an empty map when it is not there (e.g. an image built without scripts/). */
export function loadSandboxImagePackages(path: string): SandboxImagePackages {
  try {
    return parseSandboxImagePackages(readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
}

/**
 * The libraries a program can import, from Debian package names: `python3-numpy` → `numpy`,
 * `node-axios` → `axios`. The interpreter itself and the session kernel's plumbing (ipykernel,
 * jupyter-client, providers listed only for debootstrap) are not something code imports.
 */
export function importableLibraries(packages: readonly string[]): string[] {
  const plumbing = new Set(['ipykernel', 'jupyter-client', 'matplotlib-inline', 'cffi-backend', 'pip']);
  // npm and what follows it in the list (the providers of its dependency tree, named only because
  // debootstrap does not resolve virtual packages; sandbox-images.conf keeps them after npm) are the
  // installer's, not libraries the image offers.
  const npm = packages.indexOf('npm');
  return (npm === -1 ? packages : packages.slice(0, npm))
    .map((name) => /^(?:python3|node)-(.+)$/.exec(name)?.[1])
    .filter((name): name is string => name !== undefined && !plumbing.has(name));
}
