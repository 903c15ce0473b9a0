import type { ExitReason } from '../../../domain/exit-reason.js';
import type { CollectedExecution } from '../execute-collecting.js';
import type { ReturnValue } from '../../../domain/execution-result.js';
import { JsonBytes } from '../json-chunks.js';
import { artifactToJson } from '../result-json.js';

/** RAGFlow's executor-manager result statuses. */
export type RagflowStatus =
  | 'success'
  | 'program_error'
  | 'resource_limit_exceeded'
  | 'unauthorized_access'
  | 'runtime_error'
  | 'program_runner_error';

const STATUS_BY_EXIT_REASON: Record<ExitReason, RagflowStatus> = {
  ok: 'success',
  error: 'program_error',
  timeout: 'resource_limit_exceeded',
  oom: 'resource_limit_exceeded',
  output_limit: 'resource_limit_exceeded',
  sandbox_error: 'runtime_error',
  // /run installs no packages (docs/packages.md): only for completeness.
  install_error: 'program_runner_error',
  cancelled: 'program_runner_error',
};

const RESOURCE_LIMIT_TYPE: Partial<Record<ExitReason, string>> = {
  timeout: 'time',
  oom: 'memory',
  output_limit: 'output',
};

/**
 * RAGFlow's response for a finished execution, mapped from our exit reasons (never from stderr text).
 * `unauthorized_access` is never produced: access the sandbox refuses shows up as the program's own
 * error, and guessing it from "Permission denied" in stderr is exactly what this service avoids.
 */
export function ragflowResponse({
  result,
  stdout,
  stderr,
  artifacts,
}: CollectedExecution): Record<string, unknown> {
  const status = STATUS_BY_EXIT_REASON[result.exitReason];
  return {
    status,
    stdout: new JsonBytes(stdout, 'utf8'),
    stderr: new JsonBytes(stderr, 'utf8'),
    exit_code: result.exitCode,
    detail: result.detail || null,
    time_used_ms: result.durationMs,
    memory_used_kb: result.peakMemoryKb,
    resource_limit_type: RESOURCE_LIMIT_TYPE[result.exitReason] ?? null,
    unauthorized_access_type: null,
    runtime_error_type:
      status === 'program_error' ? (result.signal > 0 ? 'signalled' : 'nonzero_exit') : null,
    artifacts: artifacts.map(artifactToJson),
    result: ragflowResult(result.returnValue),
    execution_id: result.executionId,
  };
}

/** RAGFlow's response when no execution could run (it reports these with HTTP 200 too). */
export function ragflowRefusal(
  status: 'program_runner_error' | 'runtime_error',
  detail: string,
): Record<string, unknown> {
  return {
    status,
    stdout: '',
    stderr: detail,
    exit_code: -1,
    detail,
    time_used_ms: 0,
    memory_used_kb: 0,
    resource_limit_type: null,
    unauthorized_access_type: null,
    runtime_error_type: null,
    artifacts: [],
    result: ragflowResult(null),
  };
}

/**
 * main()'s return value as RAGFlow's own manager reports it (agent/sandbox/result_protocol.py): its
 * type is always "json", the value's JSON type being visible in the value itself. /v1/execute and
 * gRPC keep the finer type names.
 */
function ragflowResult(returnValue: ReturnValue | null): Record<string, unknown> {
  if (!returnValue) return { present: false, value: null, type: 'json' };
  return { present: true, value: JSON.parse(returnValue.json) as unknown, type: 'json' };
}
