import type { Artifact, SkippedArtifact } from '../domain/artifact.js';
import type { Entrypoint, InputFile } from '../domain/execution-request.js';
import type { InstallReport } from '../domain/install-report.js';
import type { PackageSpec } from '../domain/package-request.js';
import type { OutputStream, ProgramEnd, ReturnValue } from '../domain/execution-result.js';
import type { Language } from '../domain/languages.js';
import type { Limits } from '../domain/limits.js';
import type { NetworkPolicy } from '../domain/network-policy.js';

/** One execution as the sandbox sees it: validated request plus resolved limits. */
export interface SandboxJob {
  executionId: string;
  language: Language;
  code: string;
  stdin: Buffer;
  files: InputFile[];
  limits: Limits;
  entrypoint: Entrypoint;
  argumentsJson: string;
  /** What the program may reach through the egress proxy. */
  network: NetworkPolicy;
  /** Packages to install before the program starts (in an install sandbox of their own); may be empty. */
  packages: readonly PackageSpec[];
}

/** How the program ended, as observed by the sandbox. */
export interface SandboxOutcome extends ProgramEnd {
  returnValue: ReturnValue | null;
  /** The first few artifacts left out (a cap was reached), each with why. */
  skippedArtifacts: SkippedArtifact[];
  /** How many artifacts were left out in all (skippedArtifacts names at most the first 100). */
  skippedArtifactsTotal: number;
  sandbox: SandboxInfo;
  /** What installing the job's packages did; absent when it had none. */
  install?: InstallReport;
}

/** Which sandbox ran the job. */
export interface SandboxInfo {
  /** Container label `code-sandbox.sandbox`. */
  sandboxId: string;
  /** True when a pre-started sandbox from the warm pool was used. */
  warm: boolean;
  /** Time to get a sandbox ready for the job: a pool claim, or a whole cold container start. */
  acquireMs: number;
}

export interface SandboxRunCallbacks {
  /** Called once, when the program has been told to start. */
  onStart(sandbox: SandboxInfo): void;
  /** Called for each piece of output as it arrives, already cut to the output limit. */
  onOutput(stream: OutputStream, data: Buffer): void;
  /** Called for each artifact, after the program has ended and before the outcome. */
  onArtifact(artifact: Artifact): void;
}

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail: string;
  /**
   * Only on checks about pre-started sandboxes (a warm pool): whether it has been full at least once
   * since the service started. Until then calls may start cold; `ok` stays true, as a service without
   * warm sandboxes still serves.
   */
  warm?: boolean;
}

/**
 * Runs one job in a sandbox no one else has used, and disposes of that sandbox afterwards (the
 * removal may finish after this resolves, but is never skipped; the program is no longer running by
 * then, so a caller may count a sandbox as running until this settles).
 * Resolves with an outcome for anything the program does (including being cancelled through
 * `signal`); rejects only when no sandbox could be run (UnavailableError) or on internal faults.
 */
export interface SandboxRunner {
  run(job: SandboxJob, signal: AbortSignal, callbacks: SandboxRunCallbacks): Promise<SandboxOutcome>;
  /** Whether sandboxes can be started right now: docker reachable, runtime registered, images present. */
  readiness(): Promise<ReadinessCheck[]>;
  /** Starts background work (warm pools). */
  start(): void;
  /** Stops background work and waits until every sandbox it ever started is removed. */
  close(): Promise<void>;
}
