import type { ExitReason } from './exit-reason.js';
import type { Limits } from './limits.js';

/** The final outcome of one execution, whatever the program did. */
export interface ExecutionResult {
  executionId: string;
  /** 0..255 for a normal exit, 128+N when ended by signal N (also when the service stopped it). */
  exitCode: number;
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
  /** Peak resident memory of the program's largest process, in KiB; 0 when not known. */
  peakMemoryKb: number;
  limits: Limits;
}

export type OutputStream = 'stdout' | 'stderr';

/** What an execution reports while it runs, in order: started, output chunks, result. */
export type ExecutionEvent =
  | { type: 'started'; executionId: string; queueWaitMs: number; limits: Limits }
  | { type: OutputStream; data: Buffer }
  | { type: 'result'; result: ExecutionResult };
