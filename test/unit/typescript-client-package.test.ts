import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PACKAGE_DIR = 'clients/typescript';

interface PackResult {
  name: string;
  files: { path: string }[];
}

describe('@code-sandbox/client as published', () => {
  beforeAll(async () => {
    await run('npm', ['run', '--silent', 'build'], { cwd: PACKAGE_DIR });
  }, 60_000);

  it('packs its build, types, proto and README, and nothing of its sources', async () => {
    // `prepack` (the build) already ran in beforeAll.
    const { stdout } = await run(
      'npm',
      ['pack', '--dry-run', '--json', '--ignore-scripts', '--loglevel=error'],
      {
        cwd: PACKAGE_DIR,
      },
    );
    const [packed] = JSON.parse(stdout) as PackResult[];
    const files = packed!.files.map((file) => file.path);
    expect(packed!.name).toBe('@code-sandbox/client');
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'proto/sandbox/v1/sandbox.proto',
        'dist/index.js',
        'dist/index.d.ts',
      ]),
    );
    expect(files.filter((file) => file.startsWith('src/') || file.startsWith('tsconfig'))).toEqual([]);

    const manifest = JSON.parse(readFileSync(`${PACKAGE_DIR}/package.json`, 'utf8')) as {
      exports: Record<string, Record<string, string> | string>;
      main: string;
      types: string;
    };
    const targets = [manifest.main, manifest.types, ...Object.values(manifest.exports['.'] as object)];
    for (const target of targets) expect(files).toContain((target as string).replace(/^\.\//, ''));
  });

  it('imports by its name from the workspace in plain Node.js, and finds its proto from dist/', async () => {
    const script = [
      "const sdk = await import('@code-sandbox/client');",
      "new sdk.CodeSandbox({ url: 'grpc://127.0.0.1:1' }).close();",
      'console.log(Object.keys(sdk).sort().join(","));',
    ].join('\n');
    const { stdout } = await run('node', ['--input-type=module', '-e', script]);
    expect(stdout.trim().split(',')).toEqual(
      expect.arrayContaining([
        'CodeSandbox',
        'InvalidArgumentError',
        'NotFoundError',
        'ResourceExhaustedError',
        'Session',
        'UnauthenticatedError',
      ]),
    );
  });
});
