import { randomUUID } from 'node:crypto';
import { chown, chmod, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { InstallOutcome, InstallReport } from '../domain/install-report.js';
import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import type { PackageSpec } from '../domain/package-request.js';
import type { PackageMetrics } from '../packages/package-metrics.js';
import type { PackageMirror } from '../packages/package-mirror.js';
import { SANDBOX_PROTOCOL } from './protocol/sandbox-protocol.js';
import { buildInstallerSpec } from './docker/installer-spec.js';
import { removeContainer } from './docker/remove-container.js';
import type { DockerErrorListener } from './docker/docker-errors.js';
import { sandboxStartError } from './docker/docker-errors.js';
import { SANDBOX_USER } from './docker/container-spec.js';

/** The tail of the installer's output kept for the result. */
const MAX_OUTPUT_BYTES = 64 * 1024;

export interface DockerPackageInstallerOptions {
  docker: Docker;
  dockerSocket: string;
  instanceId: string;
  runtime: string;
  images: Readonly<Record<Language, string>>;
  /** Host directory under which each install gets a directory of its own (socket, manifest). */
  jobsRoot: string;
  runtimeHostDir: string;
  scratchBytes: number;
  seccompProfile: string | undefined;
  /** The package mirror of each language whose index the operator named. */
  mirrors: Partial<Record<Language, PackageMirror>>;
  /** Most bytes the packages of one install may take once installed. */
  maxInstalledBytes: number;
  /** How long past its budget an install container may live before any reaper may remove it. */
  expiryMarginMs: number;
  metrics: PackageMetrics;
  onDockerError?: DockerErrorListener;
  logger: Logger;
}

export interface PackageInstallJob {
  /** The execution (or session cell) the install is for: its logs carry this id. */
  executionId: string;
  language: Language;
  specs: readonly PackageSpec[];
  limits: Limits;
  /** Most time the install may take (part of the request's timeout). */
  budgetMs: number;
  /**
   * Host directory that receives the installed packages (a session's: what earlier installs put there
   * stays). Absent: a new one next to the install's own, which the caller moves into the program's job
   * directory and removes. Created here when missing.
   */
  outHostDir?: string;
}

/** What an install did, and where its packages are on the host. */
export interface PackageInstallResult {
  report: InstallReport;
  directory: string;
}

/**
 * Installs a request's packages in an install sandbox of its own: the same image, user, limits and
 * isolation as the program's sandbox, plus a unix socket to the package mirror (the only thing it can
 * reach) and one writable host directory for the result. The program's sandbox never gets that
 * socket: what it can reach is only what its own `network` allows, whatever the install did.
 */
export class DockerPackageInstaller {
  constructor(private readonly options: DockerPackageInstallerOptions) {}

  /** Whether installs for `language` are possible here (the operator named its index). */
  supports(language: Language): boolean {
    return this.options.mirrors[language] !== undefined;
  }

  /**
   * Runs one install to its end. Resolves with a report for anything the installer does (failure,
   * timeout, too large, cancelled through `signal`); rejects only when no install sandbox could be
   * started (UNAVAILABLE).
   */
  async install(job: PackageInstallJob, signal: AbortSignal): Promise<PackageInstallResult> {
    const mirror = this.options.mirrors[job.language];
    const requirements = job.specs.map((spec) => spec.requirement);
    const logger = this.options.logger.child({ executionId: job.executionId, component: 'packages' });
    if (!mirror) throw new Error(`no package index for ${job.language}`);
    const { packages } = SANDBOX_PROTOCOL;
    const installId = randomUUID();
    const installHostDir = join(this.options.jobsRoot, installId);
    const outHostDir = job.outHostDir ?? `${installHostDir}.out`;
    const started = performance.now();
    await mkdir(installHostDir, { recursive: true, mode: 0o755 });
    await writeFile(join(installHostDir, packages.manifest), JSON.stringify({ requirements }), {
      mode: 0o644,
    });
    await prepareOutDirectory(outHostDir);
    const session = await mirror.serve(
      join(installHostDir, packages.socket),
      `http://127.0.0.1:${packages.port}`,
      logger,
    );
    const output = new OutputTail(MAX_OUTPUT_BYTES);
    let container: Docker.Container | undefined;
    let outcome: InstallOutcome;
    try {
      const spec = buildInstallerSpec({
        installId,
        instanceId: this.options.instanceId,
        language: job.language,
        image: this.options.images[job.language],
        runtime: this.options.runtime,
        limits: job.limits,
        scratchBytes: this.options.scratchBytes,
        maxInstalledBytes: this.options.maxInstalledBytes,
        installHostDir,
        outHostDir,
        runtimeHostDir: this.options.runtimeHostDir,
        expiresAtMs: Date.now() + job.budgetMs + this.options.expiryMarginMs,
        seccompProfile: this.options.seccompProfile,
      });
      try {
        container = await this.options.docker.createContainer(spec);
        const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as Duplex;
        const sink = new PassThrough();
        sink.on('data', (chunk: Buffer) => output.push(chunk));
        this.options.docker.modem.demuxStream(stream, sink, sink);
        await container.start();
      } catch (error) {
        this.options.onDockerError?.('start');
        throw sandboxStartError(error, {
          image: this.options.images[job.language],
          runtime: this.options.runtime,
          socket: this.options.dockerSocket,
        });
      }
      outcome = await this.waitForEnd(container, job.budgetMs, signal);
    } finally {
      await session.close();
      if (container) await removeContainer(container, logger, this.options.onDockerError);
      await rm(installHostDir, { recursive: true, force: true });
    }
    const text = output.text();
    if (outcome === 'failed' && /No space left on device|ENOSPC/.test(text)) outcome = 'too_large';
    // The stage tmpfs bounds what one install writes; this bounds what the directory holds in all
    // (a session's installs add up), whatever the runtime makes of a tmpfs size.
    if (outcome === 'ok' && (await directoryBytes(outHostDir)) > this.options.maxInstalledBytes)
      outcome = 'too_large';
    const durationMs = Math.round(performance.now() - started);
    this.options.metrics.packageInstall(job.language, outcome, durationMs / 1000);
    logger.info(
      {
        packages: {
          language: job.language,
          requirements,
          outcome,
          durationMs,
          cacheHits: session.cacheHits,
          cacheMisses: session.cacheMisses,
        },
      },
      'package install finished',
    );
    const notes = [
      ...session.notes,
      ...(outcome === 'timeout' ? [`package install: stopped after its budget of ${job.budgetMs} ms`] : []),
      ...(outcome === 'too_large'
        ? [
            `package install: the installed packages exceed ${this.options.maxInstalledBytes} bytes (SANDBOX_PACKAGES_MAX_BYTES)`,
          ]
        : []),
    ];
    const report: InstallReport = {
      packages: requirements,
      outcome,
      durationMs,
      cacheHits: session.cacheHits,
      cacheMisses: session.cacheMisses,
      output:
        notes.length > 0
          ? `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${notes.join('\n')}\n`
          : text,
    };
    return { report, directory: outHostDir };
  }

  /** Waits for the installer to exit; kills it at its budget or when `signal` aborts. */
  private async waitForEnd(
    container: Docker.Container,
    budgetMs: number,
    signal: AbortSignal,
  ): Promise<InstallOutcome> {
    let timedOut = false;
    const kill = () => {
      container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, budgetMs);
    signal.addEventListener('abort', kill, { once: true });
    try {
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      if (timedOut) return 'timeout';
      return StatusCode === 0 ? 'ok' : 'failed';
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', kill);
    }
  }
}

/**
 * The directory the install sandbox writes into runs as the sandbox user: owned by it when the
 * service may chown (it runs as root), else open to it. Either way only this install mounts it
 * writable, and its parent (a sandbox's private job directory) is not writable by anyone else.
 */
async function prepareOutDirectory(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o755 });
  const [uid, gid] = SANDBOX_USER.split(':').map(Number) as [number, number];
  try {
    await chown(directory, uid, gid);
  } catch {
    await chmod(directory, 0o777);
  }
}

/** Bytes of the regular files under `directory` (symbolic links not followed). */
async function directoryBytes(directory: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Keeps the last `max` bytes written. */
class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes - (this.chunks[0]?.length ?? 0) >= this.max && this.chunks.length > 1) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}
