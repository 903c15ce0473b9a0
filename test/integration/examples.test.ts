import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);

/**
 * The shell command on a documentation page that mentions `marker` (joined across "\\" continuations),
 * aimed at the test server.
 */
function documentedCommand(page: string, marker: string): string {
  const text = readFileSync(page, 'utf8').replace(/\\\n\s*/g, '');
  const line = text
    .split('\n')
    .find((candidate) => candidate.startsWith('curl') && candidate.includes(marker));
  if (!line) throw new Error(`${page} has no curl command with ${marker}`);
  return line.replace('localhost:9385', `127.0.0.1:${t.app.httpPort}`);
}
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

// The README's and docs/ragflow.md's examples, run as pasted (only the address differs: the test server is on port 0).
describe('README examples', () => {
  it('examples/grpc-client.mjs streams output and reports the result', async () => {
    const child = run(
      'node',
      ['examples/grpc-client.mjs', 'python', 'import sys\nprint("hi")\nsys.exit(3)'],
      {
        env: { ...process.env, SANDBOX_ADDRESS: `127.0.0.1:${t.app.grpcPort}` },
      },
    );
    const failure = await child.then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failure?.code).toBe(3);
    expect(failure?.stdout).toBe('hi\n');
    expect(JSON.parse(failure?.stderr ?? '{}')).toMatchObject({ exit_reason: 'error', exit_code: 3 });
  });

  it('the curl examples return the JSON results', async () => {
    const execute = await run('bash', ['-c', documentedCommand('README.md', 'localhost:9385/v1/execute -H')]);
    expect(JSON.parse(execute.stdout)).toMatchObject({ exit_reason: 'ok', stdout: '42\n' });
    const ragflow = await run('bash', ['-c', documentedCommand('docs/ragflow.md', 'localhost:9385/run')]);
    expect(JSON.parse(ragflow.stdout)).toMatchObject({
      status: 'success',
      result: { value: { hello: 'RAG' } },
    });
  });
});
