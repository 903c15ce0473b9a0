import type { Display } from '../domain/display.js';
import type { OutputStream, ProgramEnd } from '../domain/execution-result.js';
import type { InstallReport } from '../domain/install-report.js';
import type { PackageSpec } from '../domain/package-request.js';
import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import type { NetworkPolicy } from '../domain/network-policy.js';

/** Port: starts the dedicated sandbox of one session (implemented in src/sandbox/). */
export interface SessionSandboxProvider {
  /**
   * A started sandbox whose interpreter is ready for its first cell. Rejects with UnavailableError
   * when no sandbox can be started.
   */
  acquire(request: SessionSandboxRequest): Promise<SessionSandbox>;
  /** Starts background work (warm session sandboxes). */
  start(): void;
  /**
   * Whether sandboxes can be paused here: probed once with a real checkpoint and restore of a tiny
   * sandbox (never guessed from versions). Resolves, never rejects; the same answer every call.
   */
  checkpointing(): Promise<CheckpointSupport>;
  /**
   * Takes over the paused sandbox an earlier process left at `location` (see SessionSandbox.location),
   * or resolves undefined (logged) when it is not there as recorded: container gone, another
   * instance's, no checkpoint.
   */
  adopt(location: SandboxLocation, language: Language, limits: Limits): Promise<SessionSandbox | undefined>;
  /** Removes a sandbox an earlier process left at `location` (its container, checkpoint and job directory). */
  discard(location: SandboxLocation): Promise<void>;
  /** Stops background work and removes every sandbox it holds. */
  close(): Promise<void>;
}

export interface SessionSandboxRequest {
  /** The sandbox's name in labels and logs: the session's log id, never the session id (a key). */
  sandboxId: string;
  language: Language;
  limits: Limits;
  /** After this moment the sandbox may be removed by any reaper. */
  expiresAtMs: number;
}

/** One cell: code plus its time and output limits (memory, CPU, processes are the session's). */
export interface Cell {
  /** Names the cell in the egress audit log (and in its result). */
  executionId: string;
  code: string;
  limits: Limits;
  /** The session's egress policy, bound to the sandbox's proxy for this cell (own report, own caps). */
  network: NetworkPolicy;
}

export interface CellCallbacks {
  onOutput(stream: OutputStream, data: Buffer): void;
  onDisplay(display: Display): void;
}

export interface CellOutcome extends ProgramEnd {
  executionCount: number;
  interpreterRestarted: boolean;
}

export interface SessionFile {
  path: string;
  size: number;
}

/** One install into a session. */
export interface SessionInstall {
  executionId: string;
  specs: readonly PackageSpec[];
  /** The install sandbox's memory, CPU and processes: the session's. */
  limits: Limits;
  budgetMs: number;
}

/** Whether pausing works on this host, and if not, why (for /readyz and the start-up log). */
export interface CheckpointSupport {
  works: boolean;
  detail: string;
}

/** Where a session's sandbox is, so that a later process can find it again (kept in the registry). */
export interface SandboxLocation {
  containerId: string;
  sandboxId: string;
  /** Host directory mounted into the sandbox (its upload inbox): must still exist at the restore. */
  jobHostDir: string;
  warm: boolean;
}

/** Why a session's sandbox ended by itself. */
export type SandboxEnd = 'oom' | 'crashed';

/**
 * The sandbox of one session: never shared, used for one operation at a time (the caller serialises
 * them). Every method rejects with a ServiceError when the operation cannot be done.
 */
export interface SessionSandbox {
  /** The container's `code-sandbox.sandbox` label. */
  readonly sandboxId: string;
  /** True when it came from the warm pool. */
  readonly warm: boolean;
  /**
   * Runs a cell. Resolves with an outcome for anything the code does; past its timeout, on the
   * output cap or when `signal` aborts, the cell is interrupted and the interpreter keeps its state.
   */
  runCell(cell: Cell, signal: AbortSignal, callbacks: CellCallbacks): Promise<CellOutcome>;
  /** Writes a file (path already validated) into the working directory; resolves with its size. */
  upload(path: string, content: Buffer): Promise<number>;
  /** Reads a regular file; NotFoundError when absent, InvalidArgumentError when over `maxBytes`. */
  download(path: string, maxBytes: number): Promise<Buffer>;
  list(maxEntries: number): Promise<{ files: SessionFile[]; truncated: boolean }>;
  /**
   * Installs packages where the session's interpreter finds them (its job directory's package
   * directory, on its import path from boot), through the same install sandbox and mirror as one-shot
   * requests. Resolves with a report whatever the installer did.
   */
  installPackages(install: SessionInstall, signal: AbortSignal): Promise<InstallReport>;
  /**
   * Whether pause() may be tried: false once the sandbox has been restored from a checkpoint (Docker
   * 20.10 restores a container once; a second restore fails, measured: "id already in use").
   */
  readonly pausable: boolean;
  /** True between pause() and resume(): the container is stopped and its state is in a checkpoint. */
  readonly paused: boolean;
  readonly location: SandboxLocation;
  /**
   * Checkpoints the sandbox (processes, memory, files) and stops its container; resolves with the
   * checkpoint's bytes on disk (estimated from the memory limit when Docker's directory is not
   * readable here). Rejects with the sandbox still running when the checkpoint fails.
   */
  pause(): Promise<{ checkpointBytes: number }>;
  /** Starts the container again from its checkpoint, exactly where it stopped. */
  resume(): Promise<void>;
  /** Lets go of a paused sandbox without removing it: a later process may adopt it. */
  release(): void;
  /** Called once if the sandbox ends by itself (out of memory, crashed, killed from outside). */
  onEnd(listener: (reason: SandboxEnd) => void): void;
  /** Removes the sandbox (in the background; never skipped). */
  close(): void;
}
