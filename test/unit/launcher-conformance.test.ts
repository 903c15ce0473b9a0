import { afterAll, describe, expect, it } from 'vitest';
import { LANGUAGES, type Language } from '../../src/domain/languages.js';
import {
  killUnfinishedLauncherRuns,
  runLauncher,
  type LauncherJob,
  type LauncherRun,
} from '../support/launcher-process.js';

/**
 * One table of cases for every launcher in sandbox-runtime/, each run as a plain process (no Docker,
 * no runsc) and supervised by the real SandboxSession. A case gives the program in each language and
 * one expectation for all of them: the launchers must be indistinguishable to the host.
 */
interface ConformanceCase {
  name: string;
  code: Record<Language, string>;
  job?: Omit<LauncherJob, 'code'>;
  expect(run: LauncherRun, language: Language): void;
}

const FORGED_RECORD = '{"function_result":{"present":true,"value_json":"{"}}\\n';

/** Code that writes one frame (type, JSON header line, body) straight into the launcher's stdout. */
const forgeFrame = (type: number, payload: string): Record<Language, string> => ({
  python: [
    'import os',
    `payload = ${JSON.stringify(payload)}.encode()`,
    `frame = bytes([${type}, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload`,
    'fd = os.open(f"/proc/{os.getppid()}/fd/1", os.O_WRONLY)',
    'for _ in range(50):',
    '    os.write(fd, frame)',
  ].join('\n'),
  nodejs: [
    "const fs = require('fs');",
    `const payload = Buffer.from(${JSON.stringify(payload)});`,
    `const header = Buffer.from([${type}, 0, 0, 0, 0, 0, 0, 0]);`,
    'header.writeUInt32BE(payload.length, 4);',
    'const fd = fs.openSync(`/proc/${process.ppid}/fd/1`, "w");',
    'for (let i = 0; i < 50; i++) fs.writeSync(fd, Buffer.concat([header, payload]));',
  ].join('\n'),
});

const returning = (python: string, nodejs: string): Record<Language, string> => ({
  python: `def main():\n    return ${python}`,
  nodejs: `function main() { return ${nodejs}; }`,
});

const writeArtifacts = (names: string[], content = 'hello'): Record<Language, string> => ({
  python: [
    'import os',
    `for name in ${JSON.stringify(names)}:`,
    '    path = os.path.join("artifacts", name)',
    '    os.makedirs(os.path.dirname(path), exist_ok=True)',
    `    open(path, "w").write(${JSON.stringify(content)})`,
  ].join('\n'),
  nodejs: [
    "const fs = require('fs'); const path = require('path');",
    `for (const name of ${JSON.stringify(names)}) {`,
    "  const file = path.join('artifacts', name);",
    '  fs.mkdirSync(path.dirname(file), { recursive: true });',
    `  fs.writeFileSync(file, ${JSON.stringify(content)});`,
    '}',
  ].join('\n'),
});

const CASES: ConformanceCase[] = [
  {
    name: 'script: stdout, stderr and stdin',
    code: {
      python: 'import sys\nprint("out")\nprint("err", file=sys.stderr)\nprint(sys.stdin.read())',
      nodejs:
        "console.log('out'); console.error('err'); process.stdout.write(require('fs').readFileSync(0, 'utf8') + '\\n');",
    },
    job: { stdin: 'IN' },
    expect: ({ outcome, stdout, stderr }) => {
      expect(outcome).toMatchObject({
        exitReason: 'ok',
        exitCode: 0,
        signal: 0,
        detail: '',
        returnValue: null,
      });
      expect(stdout.toString()).toBe('out\nIN\n');
      expect(stderr.toString()).toBe('err\n');
      expect(outcome.peakMemoryKb).toBeGreaterThan(1000);
    },
  },
  {
    name: 'input files are readable in the working directory',
    code: {
      python: 'print(open("data/in.txt").read())',
      nodejs: "console.log(require('fs').readFileSync('data/in.txt', 'utf8'));",
    },
    job: { files: [{ path: 'data/in.txt', content: Buffer.from('hello') }] },
    expect: ({ outcome, stdout }) => {
      expect(outcome.exitReason).toBe('ok');
      expect(stdout.toString()).toBe('hello\n');
    },
  },
  {
    name: 'an input file at a reserved path does not take the launcher down',
    code: { python: 'print("ran")', nodejs: "console.log('ran');" },
    job: { files: [{ path: 'artifacts', content: Buffer.from('x') }] },
    expect: ({ outcome, stdout, diagnostics }) => {
      expect(outcome.exitReason).toBe('ok');
      expect(stdout.toString()).toBe('ran\n');
      expect(diagnostics).toMatch(/input file "artifacts" not linked|input file 'artifacts' not linked/);
    },
  },
  {
    name: 'main(arguments): the return value and its type',
    code: {
      python: 'def main(a, b):\n    return {"sum": a + b, "text": "é", "safe": 2**53 - 1, "f": 0.1}',
      nodejs: 'function main({ a, b }) { return { sum: a + b, text: "é", safe: 2 ** 53 - 1, f: 0.1 }; }',
    },
    job: { entrypoint: 'main', arguments: { a: 1, b: 2 } },
    expect: ({ outcome }, language) => {
      expect(outcome).toMatchObject({ exitReason: 'ok', exitCode: 0 });
      expect(JSON.parse(outcome.returnValue?.json ?? 'null')).toEqual({
        sum: 3,
        text: 'é',
        safe: 2 ** 53 - 1,
        f: 0.1,
      });
      expect(outcome.returnValue?.type).toBe(language === 'python' ? 'dict' : 'object');
    },
  },
  {
    name: 'auto mode without a main runs the code as a script',
    code: { python: 'print("script")', nodejs: "console.log('script');" },
    job: { entrypoint: 'auto' },
    expect: ({ outcome, stdout }) => {
      expect(outcome).toMatchObject({ exitReason: 'ok', returnValue: null });
      expect(stdout.toString()).toBe('script\n');
    },
  },
  {
    name: 'main() raising: one message in both languages',
    code: {
      python: 'def main():\n    raise ValueError("boom")',
      nodejs: "function main() { throw new Error('boom'); }",
    },
    job: { entrypoint: 'main' },
    expect: ({ outcome, stderr }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', exitCode: 1 });
      expect(outcome.detail).toMatch(/^main\(\) raised (ValueError|Error): boom$/);
      expect(stderr.toString()).toContain('boom');
    },
  },
  {
    name: 'main mode without a main function',
    code: { python: 'x = 1', nodejs: 'const x = 1;' },
    job: { entrypoint: 'main' },
    expect: ({ outcome }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', exitCode: 1 });
      expect(outcome.detail).toMatch(/^main\(\): the code defines no function named main; define `/);
    },
  },
  {
    name: 'exit code',
    code: { python: 'import sys\nsys.exit(3)', nodejs: 'process.exit(3);' },
    expect: ({ outcome }) => expect(outcome).toMatchObject({ exitReason: 'error', exitCode: 3, signal: 0 }),
  },
  {
    name: 'killed by SIGKILL: 128 + 9',
    code: {
      python: 'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)',
      nodejs: "process.kill(process.pid, 'SIGKILL');",
    },
    expect: ({ outcome }) =>
      expect(outcome).toMatchObject({
        exitReason: 'error',
        exitCode: 137,
        signal: 9,
        detail: 'the program was killed by signal 9',
      }),
  },
  {
    name: 'killed by SIGTERM: 128 + 15',
    code: {
      python: 'import os, signal\nos.kill(os.getpid(), signal.SIGTERM)',
      nodejs: "process.kill(process.pid, 'SIGTERM');",
    },
    expect: ({ outcome }) =>
      expect(outcome).toMatchObject({ exitReason: 'error', exitCode: 143, signal: 15 }),
  },
  {
    name: 'timeout',
    code: { python: 'while True:\n    pass', nodejs: 'for (;;) {}' },
    job: { limits: { timeoutMs: 700 } },
    expect: ({ outcome }) =>
      expect(outcome).toMatchObject({ exitReason: 'timeout', detail: 'timed out after 700 ms' }),
  },
  {
    // The launchers report a run's end from the runner's own statement once every pipe is closed,
    // before the process exits: nothing the program does at exit may be lost or misreported by that.
    name: 'exit handlers still print, and the exit code they leave is the one reported',
    code: {
      python:
        'import atexit, sys\natexit.register(lambda: print("bye", flush=True))\nprint("main")\nsys.exit(3)',
      nodejs:
        "process.on('exit', () => { console.log('bye'); });\nconsole.log('main');\nprocess.exitCode = 3;",
    },
    expect: ({ outcome, stdout }) => {
      expect(stdout.toString()).toBe('main\nbye\n');
      expect(outcome).toMatchObject({ exitReason: 'error', exitCode: 3 });
    },
  },
  {
    name: 'output still being written at exit neither fails nor shows an error',
    code: {
      python:
        'import threading, time\ndef chatter():\n    while True:\n        print("d")\nthreading.Thread(target=chatter, daemon=True).start()\ntime.sleep(0.05)',
      nodejs: "setInterval(() => console.log('d'), 1);\nsetTimeout(() => process.exit(0), 50);",
    },
    expect: ({ outcome, stderr }) => {
      expect(outcome).toMatchObject({ exitReason: 'ok', exitCode: 0 });
      expect(stderr.toString()).toBe('');
    },
  },
  {
    // The runner's report pipe is closed by the program and its number reused for the program's own
    // file: the report must not end up in that file, nor the run turn into a failure.
    name: 'the program closes the report pipe and reuses its number',
    code: {
      python:
        'import os\nos.closerange(3, 256)\nfiles = [open(f"artifacts/f{i}", "w") for i in range(8)]\nprint("ok")',
      nodejs:
        "const fs = require('fs');\nfs.closeSync(3);\nfor (let i = 0; i < 4; i++) fs.openSync(`artifacts/f${i}`, 'w');\nconsole.log('ok');",
    },
    expect: ({ outcome, stdout, artifacts }) => {
      expect(outcome).toMatchObject({ exitReason: 'ok', exitCode: 0 });
      expect(stdout.toString()).toBe('ok\n');
      expect(artifacts.length).toBeGreaterThan(0);
      for (const artifact of artifacts) expect(artifact.content.toString()).toBe('');
    },
  },
  {
    name: 'a huge exit status is reported as the process really exits with it',
    code: {
      python: 'import sys\nprint("x")\nsys.exit(300)',
      nodejs: "console.log('x');\nprocess.exit(300);",
    },
    expect: ({ outcome, stdout }) => {
      expect(stdout.toString()).toBe('x\n');
      expect(outcome).toMatchObject({ exitReason: 'error', exitCode: 300 & 0xff });
    },
  },
  {
    name: 'background processes do not hold the result back',
    code: {
      python: 'import subprocess\nsubprocess.Popen(["sleep", "30"])\nprint("done")',
      nodejs:
        "require('child_process').spawn('sleep', ['30'], { stdio: 'inherit' }).unref();\nconsole.log('done');",
    },
    expect: ({ outcome, stdout }) => {
      expect(outcome.exitReason).toBe('ok');
      expect(stdout.toString()).toBe('done\n');
      expect(outcome.durationMs).toBeLessThan(5000);
    },
  },
  {
    name: 'artifacts: sorted bytewise, the count cap skips the rest',
    code: writeArtifacts(['sub/d.txt', 'b.txt', 'a.txt', 'c.txt']),
    job: { artifacts: { maxCount: 2, maxBytes: 1024 } },
    expect: ({ outcome, artifacts }) => {
      expect(outcome.exitReason).toBe('ok');
      expect(artifacts.map((a) => [a.name, a.content.toString(), a.mimeType])).toEqual([
        ['a.txt', 'hello', 'text/plain'],
        ['b.txt', 'hello', 'text/plain'],
      ]);
      expect(outcome.skippedArtifacts).toEqual([
        { name: 'c.txt', reason: 'more than 2 artifacts' },
        { name: 'sub/d.txt', reason: 'more than 2 artifacts' },
      ]);
      expect(outcome.skippedArtifactsTotal).toBe(2);
    },
  },
  {
    name: 'artifacts: the byte cap',
    code: writeArtifacts(['a.bin', 'b.bin'], '12345'),
    job: { artifacts: { maxCount: 16, maxBytes: 8 } },
    expect: ({ outcome, artifacts }) => {
      expect(artifacts.map((a) => a.name)).toEqual(['a.bin']);
      expect(outcome.skippedArtifacts).toEqual([{ name: 'b.bin', reason: 'artifacts would exceed 8 bytes' }]);
    },
  },
  {
    name: 'many artifacts: a count and the first 100 names, never a lost result',
    code: {
      python: 'for i in range(3000):\n    open(f"artifacts/{i:05}", "w").close()',
      nodejs:
        "const fs = require('fs');\nfor (let i = 0; i < 3000; i++) fs.writeFileSync(`artifacts/${String(i).padStart(5, '0')}`, '');",
    },
    expect: ({ outcome, artifacts }) => {
      expect(outcome.exitReason).toBe('ok');
      expect(artifacts).toHaveLength(16);
      expect(outcome.skippedArtifactsTotal).toBe(3000 - 16);
      expect(outcome.skippedArtifacts).toHaveLength(100);
      expect(outcome.skippedArtifacts[0]).toEqual({ name: '00016', reason: 'more than 16 artifacts' });
    },
  },
  {
    name: 'artifact names that are not safe UTF-8 paths are skipped, printable',
    code: {
      python: [
        'import os',
        'open(b"artifacts/bad\\xff.txt", "w").close()',
        'open("artifacts/evil\\nx", "w").close()',
        'open("artifacts/a:b", "w").close()',
        'open("artifacts/good.txt", "w").write("ok")',
      ].join('\n'),
      nodejs: [
        "const fs = require('fs');",
        "fs.writeFileSync(Buffer.concat([Buffer.from('artifacts/bad'), Buffer.from([0xff]), Buffer.from('.txt')]), '');",
        "fs.writeFileSync('artifacts/evil\\nx', '');",
        "fs.writeFileSync('artifacts/a:b', '');",
        "fs.writeFileSync('artifacts/good.txt', 'ok');",
      ].join('\n'),
    },
    expect: ({ outcome, artifacts }) => {
      expect(outcome.exitReason).toBe('ok');
      expect(artifacts.map((a) => a.name)).toEqual(['good.txt']);
      expect(outcome.skippedArtifactsTotal).toBe(3);
      for (const skipped of outcome.skippedArtifacts) {
        expect(skipped.reason).toBe('name is not a safe relative UTF-8 path');
        expect(skipped.name.isWellFormed()).toBe(true);
        // eslint-disable-next-line no-control-regex
        expect(skipped.name).not.toMatch(/[\u0000-\u001f]/);
      }
    },
  },
  {
    name: 'forged result record on every descriptor, then an abrupt exit: a program error',
    code: {
      python: `import os\nfor fd in range(3, 256):\n    try:\n        os.write(fd, b'${FORGED_RECORD}')\n    except OSError:\n        pass\nos._exit(0)`,
      nodejs: `const fs = require('fs');\nfor (let fd = 3; fd < 256; fd++) { try { fs.writeSync(fd, '${FORGED_RECORD}'); } catch {} }\nprocess.reallyExit(0);`,
    },
    expect: ({ outcome }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', returnValue: null });
      expect(outcome.detail).toMatch(/^main\(\) result could not be read/);
    },
  },
  {
    name: 'forged artifact frames with traversal names: refused, sandbox_error',
    code: forgeFrame(4, '{"name":"../../../../home/user/.bashrc","size":1}\nx'),
    expect: ({ outcome, artifacts }) => {
      expect(artifacts).toEqual([]);
      expect(outcome.exitReason).toBe('sandbox_error');
      expect(outcome.detail).toMatch(
        /control stream was corrupted \(an artifact header that breaks the protocol/,
      );
    },
  },
  {
    name: 'forged READY frames: sandbox_error at the first one',
    code: forgeFrame(5, ''),
    expect: ({ outcome }) => {
      expect(outcome.exitReason).toBe('sandbox_error');
      expect(outcome.detail).toMatch(/a second READY frame/);
    },
  },
  {
    name: "a flood on the launcher's stderr counts against a cap",
    code: {
      python:
        'import os\nfd = os.open(f"/proc/{os.getppid()}/fd/2", os.O_WRONLY)\nwhile True:\n    os.write(fd, b"x" * 65536)',
      nodejs:
        "const fs = require('fs');\nconst fd = fs.openSync(`/proc/${process.ppid}/fd/2`, 'w');\nfor (;;) fs.writeSync(fd, Buffer.alloc(65536, 120));",
    },
    expect: ({ outcome }) => {
      expect(outcome.exitReason).toBe('output_limit');
      expect(outcome.detail).toMatch(/more than 65536 bytes to the launcher's diagnostic stream/);
    },
  },
  {
    name: 'huge output: cut at exactly the cap',
    code: { python: 'print("x" * 10_000_000)', nodejs: "console.log('x'.repeat(10_000_000));" },
    job: { limits: { outputBytes: 1000 } },
    expect: ({ outcome, stdout }) => {
      expect(outcome).toMatchObject({ exitReason: 'output_limit', stdoutTruncated: true });
      expect(stdout.length).toBe(1000);
    },
  },
  {
    name: 'return value: an integer beyond 2^53 is refused, never rounded',
    code: returning('{"big": 2**64 + 1}', '{ big: 18446744073709551617 }'),
    job: { entrypoint: 'main' },
    expect: ({ outcome }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', returnValue: null });
      expect(outcome.detail).toMatch(/^main\(\) returned the integer 1844674407370955\d{4}, beyond/);
    },
  },
  {
    name: 'return value: 10**400 / 1e400 is refused, never null',
    code: returning('10**400', '1e400'),
    job: { entrypoint: 'main' },
    expect: ({ outcome }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', returnValue: null });
      expect(outcome.detail).toMatch(/the integer 10{19}…\(401 digits\)|non-finite number/);
    },
  },
  {
    name: 'return value: NaN is refused, never null',
    code: returning('[float("nan")]', '[NaN]'),
    job: { entrypoint: 'main' },
    expect: ({ outcome }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', returnValue: null });
      expect(outcome.detail).toMatch(/^main\(\) returned a non-finite number \(NaN or Infinity\)/);
    },
  },
  {
    name: 'return value: nesting past the depth cap',
    code: {
      python: 'def main():\n    v = []\n    for _ in range(100):\n        v = [v]\n    return v',
      nodejs: 'function main() { let v = []; for (let i = 0; i < 100; i++) v = [v]; return v; }',
    },
    job: { entrypoint: 'main' },
    expect: ({ outcome }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', returnValue: null });
      expect(outcome.detail).toBe('main() returned a value nested deeper than 64 levels');
    },
  },
  {
    name: 'return value: past the size cap',
    code: returning('"x" * 1000', "'x'.repeat(1000)"),
    job: { entrypoint: 'main', maxReturnValueBytes: 100 },
    expect: ({ outcome }) => {
      expect(outcome).toMatchObject({ exitReason: 'error', returnValue: null });
      expect(outcome.detail).toBe('main() returned a value larger than 100 bytes as JSON');
    },
  },
];

afterAll(killUnfinishedLauncherRuns);

describe.each(LANGUAGES.map((language) => [language]))('launcher conformance: %s', (language) => {
  it.each(CASES.map((c) => [c.name, c] as const))(
    '%s',
    async (_name, conformanceCase) => {
      const run = await runLauncher(language, {
        ...conformanceCase.job,
        code: conformanceCase.code[language],
      });
      conformanceCase.expect(run, language);
      // Real interpreter processes: the slowest case (thousands of artifacts) needs seconds on a busy
      // 2-core machine, more than vitest's 5 s default.
    },
    30_000,
  );
});
