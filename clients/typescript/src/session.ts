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
