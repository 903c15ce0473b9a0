import type { Artifact, SkippedArtifact } from './artifact.js';
import type { Display } from './display.js';
import type { EgressReport } from './egress-report.js';
import type { ExitReason } from './exit-reason.js';
import type { InstallReport } from './install-report.js';
import type { Limits } from './limits.js';

/** The final outcome of one execution, whatever the program did. */
export interface ExecutionResult {
  executionId: string;
  /** 0..255 for a normal exit, 128+N when ended by signal N (also when the service stopped it). */
  exitCode: number;
  /** Signal that ended the program (9 when the service killed the sandbox); 0 for a normal exit. */
  signal: number;
  exitReason: ExitReason;
  /** Human-readable explanation for anything but ok/error; empty otherwise. */
  detail: string;
  /** From the program being told to start to its end. */
  durationMs: number;
  queueWaitMs: number;
  /** From the request's arrival to the result. */
  totalMs: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /**
   * Peak resident memory of the program's own process (its getrusage at exit), in KiB; 0 when not
   * known (e.g. it was killed by a signal).
   */
  peakMemoryKb: number;
  limits: Limits;
  /** What main() returned (function mode); null when main() was not called or did not return. */
  returnValue: ReturnValue | null;
  /** Artifacts the program produced but that were not returned because a cap was reached (the first 100). */
  skippedArtifacts: SkippedArtifact[];
  /** How many artifacts were not returned in all. */
  skippedArtifactsTotal: number;
  /** Egress through the proxy, refused attempts included; null when egress is off on this server. */
  egress: EgressReport | null;
  /** What installing the request's `packages` did; absent when it asked for none. */
  install?: InstallReport;
  /** Set when the code ran as a cell of a session. */
  cell?: CellInfo;
}

/**
 * How the program (or cell) ended, and what it sent through the egress proxy, as a sandbox observes
 * it: what the sandbox runner and a session's sandbox both report, and the execution result repeats.
 */
export type ProgramEnd = Pick<
  ExecutionResult,
  | 'exitCode'
  | 'signal'
  | 'exitReason'
  | 'detail'
  | 'durationMs'
  | 'stdoutTruncated'
  | 'stderrTruncated'
  | 'peakMemoryKb'
  | 'egress'
>;

/** How a session cell went, beyond what every execution reports. */
export interface CellInfo {
  sessionId: string;
  /** The interpreter's cell counter (Jupyter's execution_count); 0 when the interpreter has none. */
  executionCount: number;
  /** True when the interpreter had to be restarted (it did not yield to an interrupt, or died): its variables are gone. */
  interpreterRestarted: boolean;
  /** Set when the session was paused and this cell resumed it first: how long that took (ms). */
  resumeMs?: number;
}

/** A JSON value returned by main(). */
export interface ReturnValue {
  /** The value as JSON text. */
  json: string;
  /** Its type in the program's language, e.g. "dict", "list", "int" (Python), "object", "array" (JS), "null". */
  type: string;
}

export type OutputStream = 'stdout' | 'stderr';

/** What an execution reports while it runs, in order: started, output chunks, result. */
export type ExecutionEvent =
  | {
      type: 'started';
      executionId: string;
      queueWaitMs: number;
      limits: Limits;
      /** The container's `code-sandbox.sandbox` label. */
      sandboxId: string;
      /** Whether a pre-started sandbox from the warm pool runs it. */
      warm: boolean;
    }
  | { type: OutputStream; data: Buffer }
  | { type: 'artifact'; artifact: Artifact }
  | { type: 'display'; display: Display }
  | { type: 'result'; result: ExecutionResult };
