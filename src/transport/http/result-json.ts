import type { Artifact } from '../../domain/artifact.js';
import { isTextMimeType, type Display } from '../../domain/display.js';
import type { ExecutionEvent, ExecutionResult, ReturnValue } from '../../domain/execution-result.js';
import { egressToWire } from '../wire-egress.js';
import { installToWire } from '../wire-install.js';
import { limitsToWire } from '../wire-limits.js';
import { startedToWire } from '../wire-started.js';
import { JsonBytes } from './json-chunks.js';
import { textFields } from './utf8-text.js';

/** The final result in JSON, field names as in the proto's Result. */
export function resultToJson(result: ExecutionResult): Record<string, unknown> {
  return {
    execution_id: result.executionId,
    exit_code: result.exitCode,
    signal: result.signal,
    exit_reason: result.exitReason,
    detail: result.detail,
    duration_ms: result.durationMs,
    queue_wait_ms: result.queueWaitMs,
    total_ms: result.totalMs,
    stdout_truncated: result.stdoutTruncated,
    stderr_truncated: result.stderrTruncated,
    peak_memory_kb: result.peakMemoryKb,
    limits: limitsToWire(result.limits),
    return_value: returnValueToJson(result.returnValue),
    skipped_artifacts: result.skippedArtifacts,
    skipped_artifacts_total: result.skippedArtifactsTotal,
    egress: egressToWire(result.egress),
    ...(result.install && { install: installToWire(result.install) }),
    ...(result.cell && {
      session_id: result.cell.sessionId,
      execution_count: result.cell.executionCount,
      interpreter_restarted: result.cell.interpreterRestarted,
      resumed: result.cell.resumeMs !== undefined,
      resume_ms: result.cell.resumeMs ?? 0,
    }),
  };
}

/** A display in JSON, as Jupyter writes MIME bundles: text types as text, the others as base64. */
export function displayToJson(display: Display): Record<string, unknown> {
  const data: Record<string, JsonBytes> = {};
  for (const [mimeType, content] of Object.entries(display.data)) {
    data[mimeType] = new JsonBytes(content, isTextMimeType(mimeType) ? 'utf8' : 'base64');
  }
  return { kind: display.kind, data };
}

/** `{present, value, type}`: the value as JSON (not as a string of JSON), null when not present. */
export function returnValueToJson(returnValue: ReturnValue | null): Record<string, unknown> {
  if (!returnValue) return { present: false, value: null, type: 'null' };
  return { present: true, value: JSON.parse(returnValue.json) as unknown, type: returnValue.type };
}

export function artifactToJson(artifact: Artifact): Record<string, unknown> {
  return {
    name: artifact.name,
    mime_type: artifact.mimeType,
    size: artifact.size,
    content_b64: new JsonBytes(artifact.content, 'base64'),
  };
}

/** One NDJSON line's object for a streamed event (output chunks already re-cut at UTF-8 boundaries). */
export function eventToJson(event: ExecutionEvent): Record<string, unknown> {
  switch (event.type) {
    case 'started':
      return { type: 'started', ...startedToWire(event) };
    case 'stdout':
    case 'stderr':
      return { type: event.type, ...textFields('data', event.data) };
    case 'artifact':
      return { type: 'artifact', ...artifactToJson(event.artifact) };
    case 'display':
      return { type: 'display', ...displayToJson(event.display) };
    case 'result':
      return { type: 'result', ...resultToJson(event.result) };
  }
}
