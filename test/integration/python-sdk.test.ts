import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOfInstance, startTestApp, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);
const TOKEN = 'python-sdk-token-0123456789';
const TESTS = resolve('clients/python/tests');

/** Every test of clients/python/tests: each must have run and passed (none skipped, none missing). */
const EXPECTED_TESTS = [
  'test_endpoint.py::test_urls_become_grpc_targets',
  'test_endpoint.py::test_an_http_url_is_refused_with_the_reason',
  'test_endpoint.py::test_malformed_urls_are_refused',
  'test_endpoint.py::test_the_environment_supplies_url_and_token',
  'test_errors.py::test_invalid_argument_names_the_field',
  'test_errors.py::test_unauthenticated_without_the_token_or_with_a_wrong_one',
  'test_errors.py::test_not_found_for_an_unknown_session',
  'test_errors.py::test_unavailable_when_nothing_listens',
  'test_rpc_error.py::test_each_status_maps_to_its_exception',
  'test_rpc_error.py::test_the_retry_hint_comes_from_the_trailing_metadata',
  'test_rpc_error.py::test_retry_waits_the_hint_then_succeeds_and_gives_up_after_max_attempts',
  'test_rpc_error.py::test_retry_leaves_other_errors_and_too_long_hints_alone',
  'test_rpc_error.py::test_retry_backs_off_without_a_hint',
  'test_readme.py::test_the_quickstart_runs',
  'test_readme.py::test_the_sessions_example_runs',
  'test_errors.py::test_resource_exhausted_carries_the_retry_hint_and_the_opt_in_retry_waits_for_it',
  'test_run.py::test_output_streams_to_the_callbacks_in_order_before_the_result',
  'test_run.py::test_files_stdin_limits_return_value_and_artifacts',
  'test_run.py::test_what_the_program_does_is_a_result_not_an_exception',
  'test_session.py::test_a_session_keeps_state_shows_values_plots_and_moves_files',
];

/** The README's Python command that starts with `prefix` (its "Client SDKs" section); docs/clients.md must show the same. */
function documentedCommand(prefix: string): string {
  const line = readFileSync('README.md', 'utf8')
    .split('\n')
    .find((candidate) => candidate.startsWith(prefix));
  if (!line) throw new Error(`README.md has no command starting with ${prefix}`);
  expect(readFileSync('docs/clients.md', 'utf8').split('\n')).toContain(line);
  return line;
}

let t: TestApp;
let workdir: string;
let venv: string;

beforeAll(async () => {
  // A fresh venv on Debian's Python, seeing Debian's grpcio/protobuf/pytest, with the package installed
  // by the README's own command, run in a directory where ./clients is the checkout's. PIP_NO_INDEX:
  // pip must find everything on this machine (PyPI is not reachable).
  workdir = mkdtempSync(join(tmpdir(), 'code-sandbox-venv-'));
  symlinkSync(resolve('clients'), join(workdir, 'clients'));
  await run('bash', ['-c', documentedCommand('/usr/bin/python3 -m venv')], {
    cwd: workdir,
    env: { ...process.env, PIP_NO_INDEX: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
  });
  venv = join(workdir, '.venv');
  // One slot and no waiting place: a second concurrent run is refused with the retry hint.
  t = await startTestApp({ SANDBOX_AUTH_TOKEN: TOKEN, SANDBOX_CONCURRENCY: '1', SANDBOX_MAX_QUEUED: '0' });
});
afterAll(async () => {
  await t?.stop();
  if (workdir) rmSync(workdir, { recursive: true, force: true });
  expect(await containersOfInstance(t.docker, t.config.instanceId)).toEqual([]);
});

describe('the Python client package (clients/python) installed with pip into a venv', () => {
  it('imports from the venv, not from the checkout', async () => {
    const { stdout } = await run(
      join(venv, 'bin', 'python'),
      ['-c', 'import code_sandbox; print(code_sandbox.__file__)'],
      {
        cwd: tmpdir(),
      },
    );
    expect(stdout.trim().startsWith(venv)).toBe(true);
  });

  it("README's one-line example prints what the code printed", async () => {
    const { stdout } = await run('bash', ['-c', documentedCommand('.venv/bin/python -c')], {
      cwd: workdir,
      env: { ...process.env, CODE_SANDBOX_URL: `127.0.0.1:${t.app.grpcPort}`, CODE_SANDBOX_TOKEN: TOKEN },
    });
    expect(stdout).toBe('42\n');
  });

  it('passes its pytest suite against the real service (streaming, sessions, files, a plot, typed errors, retry)', async () => {
    // From a directory outside the checkout, so `python -m pytest` cannot import the package's source.
    const outcome = await run(
      join(venv, 'bin', 'python'),
      ['-m', 'pytest', '-v', '-p', 'no:cacheprovider', '--color=no', TESTS],
      {
        cwd: tmpdir(),
        env: {
          ...process.env,
          CODE_SANDBOX_URL: `grpc://127.0.0.1:${t.app.grpcPort}`,
          CODE_SANDBOX_TOKEN: TOKEN,
        },
        timeout: 240_000,
      },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        output: error.stdout + error.stderr,
      }),
    );
    expect(outcome.code, outcome.output).toBe(0);
    const passed = [...outcome.output.matchAll(/tests\/(\S+?)(?:\[.*?\])? PASSED/g)].map((match) => match[1]);
    expect([...new Set(passed)].sort(), outcome.output).toEqual([...EXPECTED_TESTS].sort());
    expect(outcome.output).not.toMatch(/SKIPPED|FAILED|ERROR/);
  }, 300_000);
});
