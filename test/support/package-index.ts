import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One archive the test index serves. */
interface Archive {
  project: string;
  filename: string;
  content: Buffer;
}

/**
 * A package index on loopback for tests, serving what the test built itself: a PEP 503 simple index
 * (`/simple/NAME/`, archives under `/files/`) and an npm registry stand-in (`/NAME` packuments,
 * tarballs under `/tarballs/`). It counts every request by path, so a test can show that a second
 * install never reached it.
 */
export class TestPackageIndex {
  readonly requests: string[] = [];
  private readonly python = new Map<string, Archive[]>();
  private readonly npm = new Map<
    string,
    { version: string; archive: Archive; scripts: Record<string, string> }[]
  >();
  private server: Server | undefined;
  port = 0;

  addPython(project: string, path: string): void {
    const archive = { project, filename: path.split('/').pop()!, content: readFileSync(path) };
    this.python.set(project, [...(this.python.get(project) ?? []), archive]);
  }

  /** `scripts`: the package's lifecycle scripts, listed in its version document as a registry does. */
  addNpm(name: string, version: string, path: string, scripts: Record<string, string> = {}): void {
    const archive = {
      project: name,
      filename: `${name.replace('/', '-')}-${version}.tgz`,
      content: readFileSync(path),
    };
    this.npm.set(name, [...(this.npm.get(name) ?? []), { version, archive, scripts }]);
  }

  /** Requests whose path starts with `prefix`. */
  count(prefix: string): number {
    return this.requests.filter((path) => path.startsWith(prefix)).length;
  }

  async start(): Promise<number> {
    this.server = createServer((request, response) => {
      const path = request.url ?? '/';
      this.requests.push(path);
      const page = /^\/simple\/([^/]+)\/$/.exec(path);
      if (page) {
        const archives = this.python.get(page[1]!);
        if (!archives) return void response.writeHead(404).end();
        const links = archives.map(
          (a) =>
            `<a href="../../files/${a.filename}#sha256=${sha256(a.content)}" data-requires-python="&gt;=3.7">${a.filename}</a>`,
        );
        return void response
          .writeHead(200, { 'content-type': 'text/html' })
          .end(`<html><body>${links.join('<br/>\n')}</body></html>`);
      }
      const file = /^\/(files|tarballs)\/([^/]+)$/.exec(path);
      if (file) {
        const all = [
          ...[...this.python.values()].flat(),
          ...[...this.npm.values()].flat().map((v) => v.archive),
        ];
        const archive = all.find((a) => a.filename === file[2]);
        if (!archive) return void response.writeHead(404).end();
        return void response
          .writeHead(200, { 'content-type': 'application/octet-stream' })
          .end(archive.content);
      }
      const name = decodeURIComponent(path.slice(1));
      const versions = this.npm.get(name);
      if (!versions)
        return void response
          .writeHead(404, { 'content-type': 'application/json' })
          .end('{"error":"Not found"}');
      const document = {
        name,
        'dist-tags': { latest: versions[versions.length - 1]!.version },
        versions: Object.fromEntries(
          versions.map(({ version, archive, scripts }) => [
            version,
            {
              name,
              version,
              scripts,
              ...(Object.keys(scripts).length > 0 ? { hasInstallScript: true } : {}),
              dist: {
                tarball: `http://127.0.0.1:${this.port}/tarballs/${archive.filename}`,
                integrity: `sha512-${createHash('sha512').update(archive.content).digest('base64')}`,
              },
            },
          ]),
        ),
      };
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  stop(): void {
    this.server?.close();
  }
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * An sdist packed by hand (tar), so that its setup.py, which the test wants to run at install time
 * (reach another host, sleep), does not run here: name-1.0/{PKG-INFO, setup.py, files}.
 */
function buildSdist(outDir: string, name: string, files: Record<string, string>, setupPy: string): string {
  const source = mkdtempSync(join(tmpdir(), `sdist-${name}-`));
  const root = join(source, `${name}-1.0`);
  try {
    const all = {
      ...files,
      'setup.py': setupPy,
      'PKG-INFO': `Metadata-Version: 2.1\nName: ${name}\nVersion: 1.0\n`,
    };
    for (const [path, text] of Object.entries(all)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const archive = join(outDir, `${name}-1.0.tar.gz`);
    execFileSync('tar', ['-C', source, '-czf', archive, `${name}-1.0`]);
    return archive;
  } finally {
    rmSync(source, { recursive: true, force: true });
  }
}

/**
 * Builds a Python distribution from `files` (relative path → text) with the host's setuptools and
 * wheel (Debian's python3-setuptools, python3-wheel): a wheel, or an sdist when `sdist` is set (its
 * setup.py then runs at install time, in the install sandbox). Returns the archive's path.
 */
export function buildPythonDistribution(
  outDir: string,
  name: string,
  files: Record<string, string>,
  { sdist = false, setupPy }: { sdist?: boolean; setupPy?: string } = {},
): string {
  if (sdist) return buildSdist(outDir, name, files, setupPy!);
  const source = mkdtempSync(join(tmpdir(), `pkg-${name}-`));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(source, path, '..'), { recursive: true });
      writeFileSync(join(source, path), text);
    }
    writeFileSync(
      join(source, 'setup.py'),
      setupPy ??
        `from setuptools import setup\nsetup(name=${JSON.stringify(name)}, version="1.0", packages=[${JSON.stringify(name)}])\n`,
    );
    const before = new Set(readdirSync(outDir));
    // Debian's python3 (with its setuptools and wheel), whatever python3 the PATH finds first.
    execFileSync('/usr/bin/python3', ['setup.py', '-q', 'bdist_wheel', '-d', outDir], {
      cwd: source,
      stdio: 'ignore',
    });
    const made = readdirSync(outDir).find((entry) => !before.has(entry));
    if (!made) throw new Error(`no distribution built for ${name}`);
    return join(outDir, made);
  } finally {
    rmSync(source, { recursive: true, force: true });
  }
}

/**
 * Packs an npm package (`npm pack`) named `name` at 1.0.0 whose index.js is `main`, with the given
 * lifecycle `scripts`. Returns the tarball's path.
 */
export function buildNpmTarball(
  outDir: string,
  name: string,
  main: string,
  scripts: Record<string, string> = {},
): string {
  const source = mkdtempSync(join(tmpdir(), `npm-${name}-`));
  try {
    writeFileSync(
      join(source, 'package.json'),
      JSON.stringify({ name, version: '1.0.0', main: 'index.js', scripts }),
    );
    writeFileSync(join(source, 'index.js'), main);
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', outDir], { cwd: source })
      .toString()
      .trim()
      .split('\n')
      .pop()!;
    return join(outDir, packed);
  } finally {
    rmSync(source, { recursive: true, force: true });
  }
}
