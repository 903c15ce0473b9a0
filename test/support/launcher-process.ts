import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import type { Artifact } from '../../src/domain/artifact.js';
import type { Entrypoint, InputFile } from '../../src/domain/execution-request.js';
import type { Language } from '../../src/domain/languages.js';
import type { Limits } from '../../src/domain/limits.js';
import { testLimits } from './test-limits.js';
import { SANDBOX_RUNTIME_DIR } from '../../src/sandbox/docker/container-spec.js';
import { DOCKER_STDERR, DOCKER_STDOUT } from '../../src/sandbox/protocol/frame-decoder.js';
import { writeJobDirectory } from '../../src/sandbox/protocol/job-directory.js';
import { LANGUAGE_RUNTIMES } from '../../src/sandbox/docker/language-runtimes.js';
import { SandboxSession, type SessionOutcome } from '../../src/sandbox/protocol/sandbox-session.js';
import { packageRoot } from '../../src/config/package-root.js';

/** One job for a launcher run as a plain process. */
export interface LauncherJob {
  code: string;
  entrypoint?: Entrypoint;
  arguments?: Record<string, unknown>;
  stdin?: string;
  files?: InputFile[];
  limits?: Partial<Limits>;
  artifacts?: { maxCount: number; maxBytes: number };
  maxReturnValueBytes?: number;
}

export interface LauncherRun {
  outcome: SessionOutcome;
  stdout: Buffer;
  stderr: Buffer;
  artifacts: Artifact[];
  diagnostics: string;
}

const DEFAULT_LIMITS = testLimits({ timeoutMs: 10_000, outputBytes: 65_536 });

/**
 * Runs one job through a language's real launcher, started as a plain process (python3 / node on the
 * host, no Docker) against temporary job and work directories, and supervised by the real
 * SandboxSession over pipes. The launcher's stdout and stderr are multiplexed into Docker's attach
 * framing, so the session reads exactly what it reads from a container.
 */
export async function runLauncher(language: Language, job: LauncherJob): Promise<LauncherRun> {
  const root = await mkdtemp(join(tmpdir(), 'launcher-conformance-'));
  liveRoots.add(root);
  const jobDir = join(root, 'job');
  const workDir = join(root, 'work');
  try {
    await writeJobDirectory(jobDir, {
      entry: LANGUAGE_RUNTIMES[language].entryFile,
      code: job.code,
      stdin: Buffer.from(job.stdin ?? ''),
      files: job.files ?? [],
      entrypoint: job.entrypoint ?? 'script',
      argumentsJson: JSON.stringify(job.arguments ?? {}),
      artifacts: job.artifacts ?? { maxCount: 16, maxBytes: 1024 * 1024 },
      maxReturnValueBytes: job.maxReturnValueBytes ?? 1024 * 1024,
    });
    const [command, ...args] = LANGUAGE_RUNTIMES[language].launcher.map((part) =>
      part.replace(SANDBOX_RUNTIME_DIR, join(packageRoot(), 'sandbox-runtime')),
    );
    await mkdir(workDir);
    return await supervise(
      await startWithFifos(root, [command as string, ...args, ''], jobDir, workDir),
      job,
    );
  } finally {
    await killProcessesWorkingIn(root);
    await rm(root, { recursive: true, force: true });
    liveRoots.delete(root);
  }
}

/** Temporary roots of runs not finished yet (a case cut short by its test timeout never finishes). */
const liveRoots = new Set<string>();

/** For afterAll: kills what runs that never finished left behind. */
export async function killUnfinishedLauncherRuns(): Promise<void> {
  for (const root of liveRoots) await killProcessesWorkingIn(root);
}

/**
 * The safety net behind stopEverything: a runner runs in a session of its own and outlives a launcher
 * that died first (reparented to init, so no longer a descendant), and a case cut short by a test
 * timeout never reaches stopEverything. Every process of a run works in its temporary directory (the
 * launcher starts there and its children inherit it), so that is how they are found.
 */
async function killProcessesWorkingIn(root: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
    if (cwd !== root && !cwd.startsWith(`${root}/`)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/**
 * The launcher's stdin, stdout and stderr as named pipes, as in a container (Docker attaches through
 * FIFOs; Node's own child pipes are socket pairs, which /proc/<pid>/fd cannot be opened through, and
 * forging through /proc is one of the cases). `sh` opens them and execs the launcher in place.
 */
async function startWithFifos(
  root: string,
  command: string[],
  jobDir: string,
  workDir: string,
): Promise<LauncherProcess> {
  const fifo = (name: string) => {
    const path = join(root, name);
    execFileSync('mkfifo', [path]);
    return path;
  };
  const [stdinPath, stdoutPath, stderrPath] = [fifo('stdin'), fifo('stdout'), fifo('stderr')];
  const stdout = new Socket({
    fd: openSync(stdoutPath, constants.O_RDONLY | constants.O_NONBLOCK),
    writable: false,
  });
  const stderr = new Socket({
    fd: openSync(stderrPath, constants.O_RDONLY | constants.O_NONBLOCK),
    writable: false,
  });
  const child = spawn('sh', ['-c', 'exec "$@" >"$OUT" 2>"$ERR" <"$IN"', 'launcher', ...command], {
    cwd: workDir,
    env: {
      PATH: process.env.PATH,
      CODE_SANDBOX_JOB_DIR: jobDir,
      CODE_SANDBOX_WORK_DIR: workDir,
      IN: stdinPath,
      OUT: stdoutPath,
      ERR: stderrPath,
    },
    stdio: 'ignore',
  });
  // Blocks only until the shell opens the other end, a few milliseconds.
  const stdin = new Socket({ fd: openSync(stdinPath, constants.O_WRONLY), readable: false });
  return { pid: child.pid as number, child, stdin, stdout, stderr };
}

interface LauncherProcess {
  pid: number;
  child: ChildProcess;
  stdin: Socket;
  stdout: Socket;
  stderr: Socket;
}

async function supervise(child: LauncherProcess, job: LauncherJob): Promise<LauncherRun> {
  const exited = new Promise<number>((resolve) =>
    child.child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0))),
  );
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const artifacts: Artifact[] = [];
  let diagnostics = '';
  const session = new SandboxSession({
    stream: new AttachEmulation(child),
    limits: { ...DEFAULT_LIMITS, ...job.limits },
    nonce: 'conformance-nonce',
    signal: new AbortController().signal,
    callbacks: {
      onStart: () => undefined,
      onOutput: (stream, data) => (stream === 'stdout' ? stdout : stderr).push(data),
      onArtifact: (artifact) => artifacts.push(artifact),
    },
    onStart: () => undefined,
    waitForExit: async () => ({ exitCode: await exited, oomKilled: false }),
    onDiagnostic: (text) => (diagnostics += text),
    artifactLimits: job.artifacts ?? { maxCount: 16, maxBytes: 1024 * 1024 },
    maxReturnValueBytes: job.maxReturnValueBytes ?? 1024 * 1024,
  });
  const outcome = await session.run();
  await stopEverything(child, exited);
  return { outcome, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), artifacts, diagnostics };
}

/**
 * What the teardown does to a container: let go of the launcher (its stdin ends, it exits), and kill
 * whatever is left a moment later — the launcher and every process below it, found through /proc.
 */
async function stopEverything(child: LauncherProcess, exited: Promise<number>): Promise<void> {
  const family = await descendants(child.pid);
  child.stdin.destroy(); // closes the FIFO: the launcher reads end-of-file
  child.stdout.resume();
  child.stderr.resume();
  const gone = await Promise.race([exited.then(() => true), delay(1000).then(() => false)]);
  for (const pid of [...family, ...(gone ? [] : [child.pid])]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await exited;
  child.stdout.destroy();
  child.stderr.destroy();
  child.stdin.destroy();
}

async function descendants(rootPid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0) {
    const parent = pending.pop() as number;
    for (const [pid, ppid] of parents) {
      if (ppid === parent) {
        found.push(pid);
        pending.push(pid);
      }
    }
  }
  return found;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Docker's attach stream of a container, emulated over a plain process's pipes. */
class AttachEmulation extends Duplex {
  constructor(private readonly child: LauncherProcess) {
    super();
    let open = 2;
    const ended = () => {
      open -= 1;
      if (open === 0) this.push(null);
    };
    // Backpressure as over a socket: a paused reader stops the launcher's writes.
    const relay = (type: number) => (chunk: Buffer) => {
      if (!this.push(dockerFrame(type, chunk))) {
        child.stdout.pause();
        child.stderr.pause();
      }
    };
    child.stdout.on('data', relay(DOCKER_STDOUT));
    child.stderr.on('data', relay(DOCKER_STDERR));
    child.stdout.once('end', ended);
    child.stderr.once('end', ended);
    child.stdin.on('error', () => undefined); // the launcher may be gone already
  }

  override _read(): void {
    this.child.stdout.resume();
    this.child.stderr.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.child.stdin.write(chunk, () => done());
  }
}

function dockerFrame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}
