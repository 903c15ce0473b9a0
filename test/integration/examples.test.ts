import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

// The README's examples, run as pasted (only the address differs: the test server is on port 0).
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

  it('the curl example returns the JSON result', async () => {
    const { stdout } = await run('curl', [
      '-s',
      `${t.httpUrl}/v1/execute`,
      '-H',
      'content-type: application/json',
      '-d',
      '{"language": "python", "code": "print(6 * 7)"}',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ exit_reason: 'ok', stdout: '42\n' });
  });
});
