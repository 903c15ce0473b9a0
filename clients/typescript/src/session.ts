import './dispose-symbol.js';
import type { CodeSandbox } from './code-sandbox.js';
import { NotFoundError } from './errors.js';
import { SessionFiles } from './session-files.js';
import type { CellOptions, ExecutionResult, Language, Limits } from './types.js';
import { limitsFromWire, type WireSession } from './wire.js';

/**
 * A stateful interpreter in a sandbox of its own (a Jupyter kernel for Python, a persistent context
 * for Node.js): each `run` is the next cell, with the variables, imports and files of the earlier
 * ones. Close it when done (`close()`, or `await using session = …`); otherwise the service closes
 * it after its idle timeout.
 */
export class Session implements AsyncDisposable {
  readonly id: string;
  /** Empty for a session attached by id (`CodeSandbox.session(id)`). */
  readonly language: Language | '';
  /** The limits in force; all 0 for a session attached by id. */
  readonly limits: Required<Limits>;
  readonly idleTimeoutMs: number;
  /** The session is closed at this time whatever happens (0 when unknown). */
  readonly expiresAt: Date | undefined;
  /** True when a pre-started sandbox was used. */
  readonly warmStart: boolean;
  /** The session's working directory. */
  readonly files: SessionFiles;
  private closed = false;

  /** Not for direct use: sessions come from `CodeSandbox.createSession` or `CodeSandbox.session(id)`. */
  constructor(
    private readonly sandbox: CodeSandbox,
    created: Partial<WireSession> & { session_id: string },
  ) {
    this.id = created.session_id;
    this.language = (created.language ?? '') as Language | '';
    this.limits = limitsFromWire(created.limits ?? null);
    this.idleTimeoutMs = created.idle_timeout_ms ?? 0;
    this.expiresAt = created.expires_at_ms ? new Date(created.expires_at_ms) : undefined;
    this.warmStart = created.warm_start ?? false;
    this.files = new SessionFiles(sandbox, this.id);
  }

  /**
   * Runs `code` as the session's next cell. The value of its last expression is `result.text` (and in
   * `result.displays`, with plots as PNG bytes); output streams to `onStdout`/`onStderr`. A cell past
   * its timeout is interrupted and the session keeps its variables.
   */
  run(code: string, options: CellOptions = {}): Promise<ExecutionResult> {
    return this.sandbox.execute(
      {
        session_id: this.id,
        code,
        limits: {
          timeout_ms: options.timeoutMs ?? 0,
          output_bytes: options.outputBytes ?? 0,
        },
      },
      options,
    );
  }

  /**
   * Pauses the session now: the service checkpoints its whole sandbox (variables, modules, files) and
   * stops its container, so it holds no memory. Any later call resumes it (under a second); pausing is
   * never required, idle sessions are paused by the service itself. Where the service cannot
   * checkpoint, the answer is `state: 'running'` and nothing changed.
   */
  async pause(): Promise<SessionState> {
    return stateFromWire(
      await this.sandbox.unary('PauseSession', { session_id: this.id }, this.id, undefined),
    );
  }

  /** Starts a paused session again now (a running one is answered as it is). */
  async resume(): Promise<SessionState> {
    return stateFromWire(
      await this.sandbox.unary('ResumeSession', { session_id: this.id }, this.id, undefined),
    );
  }

  /**
   * Ends the session and removes its sandbox. A session that has already ended (closed, idle, expired)
   * counts as closed: closing is idempotent, so `await using` never throws at the end of a block
   * because the service ended the session first.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sandbox.unary('CloseSession', { session_id: this.id }, this.id, undefined);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    this.closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A session's state as PauseSession and ResumeSession answer it. */
export interface SessionState {
  state: 'running' | 'paused';
  /** Bytes of its checkpoint on disk while paused, else 0. */
  checkpointBytes: number;
  /** This call resumed the session, taking `resumeMs`. */
  resumed: boolean;
  resumeMs: number;
}

function stateFromWire(response: unknown): SessionState {
  const wire = response as {
    state: string;
    checkpoint_bytes: number | string;
    resumed: boolean;
    resume_ms: number;
  };
  return {
    state: wire.state === 'paused' ? 'paused' : 'running',
    checkpointBytes: Number(wire.checkpoint_bytes),
    resumed: wire.resumed,
    resumeMs: wire.resume_ms,
  };
}
