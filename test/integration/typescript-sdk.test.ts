import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CodeSandbox,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  type RetryEvent,
} from '../../clients/typescript/src/index.js';
import { freePort } from '../support/free-port.js';
import { containersOfInstance, eventuallyEmpty, startTestApp, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);
const TOKEN = 'typescript-client-token-0123456789';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
let t: TestApp;
let sandbox: CodeSandbox;

beforeAll(async () => {
  // One slot and no waiting place: a second concurrent run is refused at once, with the retry hint.
  t = await startTestApp({ SANDBOX_AUTH_TOKEN: TOKEN, SANDBOX_CONCURRENCY: '1', SANDBOX_MAX_QUEUED: '0' });
  // The URL and token as a deployment would hand them over: through the environment.
  sandbox = new CodeSandbox({
    env: { CODE_SANDBOX_URL: `grpc://127.0.0.1:${t.app.grpcPort}`, CODE_SANDBOX_TOKEN: TOKEN },
  });
  // The README examples import the package by its name: the workspace link resolves to dist/.
  await run('npm', ['run', '--silent', 'build', '--workspace', '@code-sandbox/client']);
});
afterAll(async () => {
  sandbox?.close();
  await t?.stop();
  expect(await containersOfInstance(t.docker, t.config.instanceId)).toEqual([]);
});

/** Resolves once `run` has printed something, i.e. holds the service's only execution slot. */
async function occupySlot(seconds: number): Promise<{ done: Promise<unknown> }> {
  let markBusy: () => void = () => undefined;
  const busy = new Promise<void>((resolve) => (markBusy = resolve));
  const done = sandbox.run(`import time\nprint("busy", flush=True)\ntime.sleep(${seconds})`, {
    onStdout: () => markBusy(),
  });
  await busy;
  return { done };
}

describe('CodeSandbox.run', () => {
  it('streams stdout and stderr to the callbacks in the order written, all before the result', async () => {
    const started = performance.now();
    const seen: { stream: string; text: string; at: number }[] = [];
    const code = [
      'import sys, time',
      'print("one", flush=True)',
      'time.sleep(0.3)',
      'print("two", file=sys.stderr, flush=True)',
      'time.sleep(0.3)',
      'print("three ünïcödé", flush=True)',
      'time.sleep(1)',
    ].join('\n');
    const result = await sandbox.run(code, {
      language: 'python',
      onStdout: (text) => seen.push({ stream: 'stdout', text, at: performance.now() - started }),
      onStderr: (text) => seen.push({ stream: 'stderr', text, at: performance.now() - started }),
    });
    const resolvedAt = performance.now() - started;

    // A line may arrive in more than one chunk (print writes its text and its end separately, and the
    // sandbox's stdout is unbuffered): join the chunks of each stream's run before comparing.
    const runs: [string, string][] = [];
    for (const { stream, text } of seen) {
      const last = runs.at(-1);
      if (last?.[0] === stream) last[1] += text;
      else runs.push([stream, text]);
    }
    expect(runs).toEqual([
      ['stdout', 'one\n'],
      ['stderr', 'two\n'],
      ['stdout', 'three ünïcödé\n'],
    ]);
    // Streamed as written, not handed over with the result: the last line came about a second early.
    expect(resolvedAt - seen.at(-1)!.at).toBeGreaterThan(800);
    expect(result).toMatchObject({
      exitReason: 'ok',
      exitCode: 0,
      stdout: 'one\nthree ünïcödé\n',
      stderr: 'two\n',
      warmStart: false,
    });
    expect(result.executionId).toMatch(/\S/);
  });

  it("passes files, stdin and limits, and returns main()'s value and typed artifacts", async () => {
    const code = [
      'import os, sys',
      'import matplotlib',
      'matplotlib.use("Agg")',
      'import matplotlib.pyplot as plt',
      'def main(name, factor):',
      '    rows = open("data/in.csv").read().split()',
      '    os.makedirs("artifacts", exist_ok=True)',
      '    open("artifacts/greeting.txt", "w").write("hello " + name + " " + sys.stdin.read())',
      '    plt.plot([1, 2, 3])',
      '    plt.savefig("artifacts/plot.png")',
      '    return {"rows": len(rows), "scaled": factor * 21}',
    ].join('\n');
    const result = await sandbox.run(code, {
      files: { 'data/in.csv': 'a,b\n1,2\n3,4\n' },
      stdin: 'from stdin',
      arguments: { name: 'rag', factor: 2 },
      limits: { timeoutMs: 20_000, memoryBytes: 300 * 1024 * 1024 },
    });

    expect(result.exitReason).toBe('ok');
    expect(result.returnValue).toEqual({
      value: { rows: 3, scaled: 42 },
      json: expect.stringContaining('"scaled": 42') as unknown,
      type: 'dict',
    });
    expect(result.limits).toMatchObject({ timeoutMs: 20_000, memoryBytes: 300 * 1024 * 1024 });
    const byName = new Map(result.artifacts.map((artifact) => [artifact.name, artifact]));
    const greeting = byName.get('greeting.txt')!;
    expect(greeting).toMatchObject({ mimeType: 'text/plain', size: greeting.bytes.length });
    expect(Buffer.from(greeting.bytes).toString()).toBe('hello rag from stdin');
    const plot = byName.get('plot.png')!;
    expect(plot.mimeType).toBe('image/png');
    expect(Buffer.from(plot.bytes.subarray(0, 8))).toEqual(PNG_MAGIC);
  });

  it('reports what the program did as a result, not an error', async () => {
    const failed = await sandbox.run('import sys\nprint("bad", file=sys.stderr)\nsys.exit(3)');
    expect(failed).toMatchObject({ exitReason: 'error', exitCode: 3, stderr: 'bad\n' });
    const timedOut = await sandbox.run('while True: pass', { limits: { timeoutMs: 500 } });
    expect(timedOut).toMatchObject({ exitReason: 'timeout', exitCode: 137 });
    const node = await sandbox.run('console.log([1, 2, 3].map((x) => x * 2).join(","))', {
      language: 'nodejs',
    });
    expect(node).toMatchObject({ exitReason: 'ok', stdout: '2,4,6\n' });
  });

  it('rejects with the abort reason when the signal aborts, and the sandbox is killed', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const run = sandbox.run('import time\nprint("up", flush=True)\ntime.sleep(60)', {
      signal: controller.signal,
      onStdout: () => controller.abort(new Error('caller gave up')),
    });
    await expect(run).rejects.toThrow('caller gave up');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(await eventuallyEmpty(() => containersOfInstance(t.docker, t.config.instanceId))).toEqual([]);
  });
});

describe('sessions', () => {
  it('keeps state across cells, returns values as text and plots as PNG bytes, and moves files', async () => {
    let sessionId: string;
    {
      await using session = await sandbox.createSession({ language: 'python' });
      sessionId = session.id;
      expect(session.language).toBe('python');
      expect(session.expiresAt!.getTime()).toBeGreaterThan(Date.now());

      expect((await session.run('x = 41')).exitReason).toBe('ok');
      const value = await session.run('x + 1');
      expect(value).toMatchObject({ exitReason: 'ok', text: '42', sessionId: session.id });
      expect(value.executionCount).toBe(2);

      const streamed: string[] = [];
      const printed = await session.run('print("from the kernel")\nx', {
        onStdout: (text) => streamed.push(text),
      });
      expect(streamed.join('')).toBe('from the kernel\n');
      expect(printed.text).toBe('41');

      const plot = await session.run('import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()');
      const image = plot.displays.find((display) => display.png);
      expect(image?.kind).toBe('display_data');
      expect(Buffer.from(image!.png!.subarray(0, 8))).toEqual(PNG_MAGIC);

      expect(await session.files.write('sales.csv', 'month,revenue\n1,120\n2,150\n')).toBe(26);
      const total = await session.run(
        'import csv\nrows = list(csv.DictReader(open("sales.csv")))\n' +
          'open("total.txt", "w").write(str(sum(int(r["revenue"]) for r in rows)))\n' +
          'len(rows)',
      );
      expect(total.text).toBe('2');
      expect(await session.files.readText('total.txt')).toBe('270');
      const download = await session.files.download('sales.csv');
      expect(download).toMatchObject({ path: 'sales.csv', mimeType: 'text/csv', size: 26 });
      const listing = await session.files.list();
      expect(listing).toEqual(
        expect.arrayContaining([
          { path: 'sales.csv', size: 26 },
          { path: 'total.txt', size: 3 },
        ]),
      );
      await expect(session.files.read('missing.txt')).rejects.toBeInstanceOf(NotFoundError);
    }
    // `await using` closed it: its id is now unknown to the service.
    await expect(sandbox.session(sessionId).run('x')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('typed errors', () => {
  it('InvalidArgumentError names the bad field', async () => {
    const unknownLanguage = sandbox.run('print(1)', { language: 'cobol' as 'python' });
    await expect(unknownLanguage).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(unknownLanguage).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const badPath = await sandbox
      .run('print(1)', { files: { '../escape.txt': 'x' } })
      .catch((error: unknown) => error);
    expect(badPath).toBeInstanceOf(InvalidArgumentError);
    expect((badPath as InvalidArgumentError).details).toMatch(/files\[0\]\.path/);
  });

  it('UnauthenticatedError without the token or with a wrong one', async () => {
    const url = `127.0.0.1:${t.app.grpcPort}`;
    const anonymous = new CodeSandbox({ url, env: {} });
    const wrong = new CodeSandbox({ url, token: 'not-the-token-0123456789' });
    try {
      await expect(anonymous.run('print(1)')).rejects.toBeInstanceOf(UnauthenticatedError);
      await expect(wrong.createSession()).rejects.toBeInstanceOf(UnauthenticatedError);
    } finally {
      anonymous.close();
      wrong.close();
    }
  });

  it('NotFoundError for an unknown session id, on cells and file calls alike', async () => {
    const unknown = sandbox.session('no-such-replica.0123456789abcdef');
    await expect(unknown.run('1')).rejects.toBeInstanceOf(NotFoundError);
    await expect(unknown.files.list()).rejects.toBeInstanceOf(NotFoundError);
    // Closing one that has ended is not an error: `await using` must not throw at the end of a block.
    await expect(unknown.close()).resolves.toBeUndefined();
  });

  it('UnavailableError when nothing listens at the URL', async () => {
    const nowhere = new CodeSandbox({ url: `grpc://127.0.0.1:${await freePort()}`, env: {} });
    try {
      await expect(nowhere.run('print(1)')).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      nowhere.close();
    }
  });

  it("ResourceExhaustedError carries the service's retry hint, and the opt-in retry waits for it", async () => {
    const { done } = await occupySlot(2.5);
    const refused = await sandbox.run('print("never")').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ResourceExhaustedError);
    // One slot, nobody waiting: the scheduler's hint is one wave, 1000 ms.
    expect((refused as ResourceExhaustedError).retryAfterMs).toBe(1000);

    const retries: RetryEvent[] = [];
    const patient = new CodeSandbox({
      url: `grpc://127.0.0.1:${t.app.grpcPort}`,
      token: TOKEN,
      retry: { maxAttempts: 6, onRetry: (event) => retries.push(event) },
    });
    try {
      const started = performance.now();
      const result = await patient.run('print("after waiting")');
      const elapsed = performance.now() - started;
      expect(result).toMatchObject({ exitReason: 'ok', stdout: 'after waiting\n' });
      expect(retries.length).toBeGreaterThanOrEqual(1);
      for (const retry of retries) {
        expect(retry.delayMs).toBe(retry.error.retryAfterMs);
        expect(retry.delayMs).toBe(1000);
      }
      expect(retries.map((retry) => retry.attempt)).toEqual(retries.map((_, index) => index + 1));
      // It really waited out each hint before trying again.
      expect(elapsed).toBeGreaterThanOrEqual(retries.length * 1000);
    } finally {
      patient.close();
    }
    await done;
  });
});

/** The first code block under the client README's `## heading`. */
function readmeBlock(heading: string): string {
  const readme = readFileSync('clients/typescript/README.md', 'utf8');
  const section = readme.split(`\n## ${heading}\n`)[1] ?? '';
  const block = /```(?:js|ts)\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`clients/typescript/README.md has no code block under ${heading}`);
  return block;
}

/** Runs a module in a directory of the checkout (so `@code-sandbox/client` resolves), with the token in the environment. */
async function runModule(name: string, source: string, nodeArgs: string[] = []): Promise<string> {
  const directory = mkdtempSync(join(process.cwd(), '.readme-example-'));
  try {
    writeFileSync(join(directory, name), source);
    const { stdout } = await run('node', [...nodeArgs, join(directory, name)], {
      env: { ...process.env, CODE_SANDBOX_TOKEN: TOKEN },
    });
    return stdout;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

// The README's examples, run as written (only the address differs: the test server's).
describe('clients/typescript/README.md', () => {
  it("the root README's one-line example (also in docs/clients.md) prints what the code printed", async () => {
    const line = readFileSync('README.md', 'utf8')
      .split('\n')
      .find(
        (candidate) =>
          candidate.startsWith('node --input-type=module') && candidate.includes('@code-sandbox/client'),
      );
    expect(readFileSync('docs/clients.md', 'utf8').split('\n')).toContain(line);
    const { stdout } = await run('bash', ['-c', line!], {
      env: { ...process.env, CODE_SANDBOX_URL: `127.0.0.1:${t.app.grpcPort}`, CODE_SANDBOX_TOKEN: TOKEN },
    });
    expect(stdout).toBe('42\n');
  });

  it('the quickstart runs in plain Node.js', async () => {
    const quickstart = readmeBlock('Quickstart').replace('localhost:50051', `127.0.0.1:${t.app.grpcPort}`);
    const stdout = await runModule('quickstart.mjs', quickstart);
    expect(stdout).toMatch(/^42\nok \d+\n$/);
  });

  it('the sessions example runs (TypeScript, `await using`)', async () => {
    const source = [
      "import { CodeSandbox } from '@code-sandbox/client';",
      `const sandbox = new CodeSandbox({ url: 'grpc://127.0.0.1:${t.app.grpcPort}' });`,
      '{',
      readmeBlock('Sessions'),
      '  console.log(JSON.stringify({ text: value.text, png: Buffer.from(png!.subarray(0, 4)).toString("hex"), listing, bytes: bytes.length }));',
      '}',
      'sandbox.close();',
    ].join('\n');
    const stdout = await runModule('sessions.mts', source, ['--import', 'tsx']);
    expect(JSON.parse(stdout)).toEqual({
      text: '6',
      png: '89504e47',
      listing: [{ path: 'sales.csv', size: 20 }],
      bytes: 20,
    });
  });
});
