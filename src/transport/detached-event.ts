import type { ExecutionEvent } from '../domain/execution-result.js';

/**
 * The event with its output copied into a buffer of its own. The sandbox hands output out as views
 * into its larger receive buffers; a transport that keeps output for a while (a client not reading
 * yet, a whole-JSON response being gathered) would otherwise keep those whole buffers alive too.
 */
export function detachedEvent(event: ExecutionEvent): ExecutionEvent {
  if (event.type !== 'stdout' && event.type !== 'stderr') return event;
  return { type: event.type, data: Buffer.from(event.data) };
}
