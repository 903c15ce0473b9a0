import type { ExecutionEvent } from '../domain/execution-result.js';
import { limitsToWire } from './wire-limits.js';

/** The `started` event as both APIs spell it (proto Started field names, also the JSON keys). */
export function startedToWire(event: Extract<ExecutionEvent, { type: 'started' }>): Record<string, unknown> {
  return {
    execution_id: event.executionId,
    queue_wait_ms: event.queueWaitMs,
    limits: limitsToWire(event.limits),
    sandbox_id: event.sandboxId,
    warm_start: event.warm,
  };
}
