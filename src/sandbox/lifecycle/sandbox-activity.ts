/**
 * What the sandbox layer is doing right now that background removals must not slow down: executions
 * between their claim and their outcome, and pool starts (refills). On a small host a runsc removal
 * competes for the same cores, so the teardown defers to both (see SandboxTeardown).
 */
export class SandboxActivity {
  private executions = 0;
  private starts = 0;

  /** An execution claimed or is starting its sandbox; call the returned function once it has its outcome. */
  executionBegan(): () => void {
    this.executions += 1;
    return once(() => (this.executions -= 1));
  }

  /** A pool started a sandbox; call the returned function once it is ready or has failed. */
  startBegan(): () => void {
    this.starts += 1;
    return once(() => (this.starts -= 1));
  }

  get executionsInProgress(): number {
    return this.executions;
  }

  get startsInProgress(): number {
    return this.starts;
  }

  /** Whether anything is going on that a removal would take CPU from. */
  get busy(): boolean {
    return this.executions > 0 || this.starts > 0;
  }
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
