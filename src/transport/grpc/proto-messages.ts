import type { ExecutionRequestInput } from '../../domain/execution-request.js';
import { InvalidArgumentError } from '../../errors/service-error.js';
import type { ExecutionEvent } from '../../domain/execution-result.js';
import type { Limits, RequestedLimits } from '../../domain/limits.js';

/** sandbox.v1.Limits as proto-loader decodes it (snake_case, defaults filled in). */
export interface ProtoLimits {
  timeout_ms: number;
  memory_bytes: number;
  cpu_millicores: number;
  max_processes: number;
  output_bytes: number;
}

export interface ProtoExecuteCodeRequest {
  language: string;
  code: string;
  stdin: Buffer;
  files: { path: string; content: Buffer }[];
  limits: ProtoLimits | null;
  entrypoint: string;
  arguments_json: string;
}

/** Proto3 cannot tell 0 from unset; 0 means "server default". */
function requestedLimits(limits: ProtoLimits | null): RequestedLimits {
  if (!limits) return {};
  const unsetIfZero = (value: number) => (value === 0 ? undefined : value);
  const requested: RequestedLimits = {};
  const entries: [keyof Limits, number | undefined][] = [
    ['timeoutMs', unsetIfZero(limits.timeout_ms)],
    ['memoryBytes', unsetIfZero(limits.memory_bytes)],
    ['cpuMillicores', unsetIfZero(limits.cpu_millicores)],
    ['maxProcesses', unsetIfZero(limits.max_processes)],
    ['outputBytes', unsetIfZero(limits.output_bytes)],
  ];
  for (const [key, value] of entries) if (value !== undefined) requested[key] = value;
  return requested;
}

export function requestFromProto(message: ProtoExecuteCodeRequest): ExecutionRequestInput {
  return {
    language: message.language,
    code: message.code,
    stdin: message.stdin,
    files: message.files.map((file) => ({ path: file.path, content: file.content })),
    limits: requestedLimits(message.limits),
    entrypoint: message.entrypoint,
    arguments: parseArgumentsJson(message.arguments_json),
  };
}

function parseArgumentsJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidArgumentError(`is not valid JSON (${(error as Error).message})`, 'arguments_json');
  }
}

export function limitsToProto(limits: Limits): ProtoLimits {
  return {
    timeout_ms: limits.timeoutMs,
    memory_bytes: limits.memoryBytes,
    cpu_millicores: limits.cpuMillicores,
    max_processes: limits.maxProcesses,
    output_bytes: limits.outputBytes,
  };
}

/** One ExecuteCodeResponse per event; exactly one oneof member is set. */
export function eventToProto(event: ExecutionEvent): Record<string, unknown> | undefined {
  switch (event.type) {
    case 'started':
      return {
        started: {
          execution_id: event.executionId,
          queue_wait_ms: event.queueWaitMs,
          limits: limitsToProto(event.limits),
          sandbox_id: event.sandboxId,
          warm_start: event.warm,
        },
      };
    case 'stdout':
      return { stdout: { data: event.data } };
    case 'stderr':
      return { stderr: { data: event.data } };
    case 'artifact': {
      const { name, mimeType, size, content } = event.artifact;
      return { artifact: { name, mime_type: mimeType, size, content } };
    }
    case 'result': {
      const r = event.result;
      return {
        result: {
          execution_id: r.executionId,
          exit_code: r.exitCode,
          signal: r.signal,
          exit_reason: r.exitReason,
          duration_ms: r.durationMs,
          stdout_truncated: r.stdoutTruncated,
          stderr_truncated: r.stderrTruncated,
          queue_wait_ms: r.queueWaitMs,
          total_ms: r.totalMs,
          detail: r.detail,
          peak_memory_kb: r.peakMemoryKb,
          limits: limitsToProto(r.limits),
          return_value: r.returnValue
            ? { present: true, value_json: r.returnValue.json, type: r.returnValue.type }
            : null,
          skipped_artifacts: r.skippedArtifacts,
        },
      };
    }
  }
}
