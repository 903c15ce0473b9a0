import type { ExecutionEvent } from '../domain/execution-result.js';
import type { Limits } from '../domain/limits.js';

/**
 * The `started` event of a one-shot execution or a session cell: sent once its sandbox has been told
 * to run it, naming that sandbox.
 */
export function startedEvent(
  executionId: string,
  queueWaitMs: number,
  limits: Limits,
  sandbox: { readonly sandboxId: string; readonly warm: boolean },
): Extract<ExecutionEvent, { type: 'started' }> {
  return {
    type: 'started',
    executionId,
    queueWaitMs,
    limits,
    sandboxId: sandbox.sandboxId,
    warm: sandbox.warm,
  };
}
