import type { ExecutionRequestInput } from '../../domain/execution-request.js';
import type { CellInput } from '../../session/session-request.js';
import { InvalidArgumentError } from '../../errors/service-error.js';
import type { ExecutionEvent } from '../../domain/execution-result.js';
import { egressToWire } from '../wire-egress.js';
import { installToWire, packagesFromWire } from '../wire-install.js';
import { limitsToWire, requestedLimitsFromWire, type WireLimits } from '../wire-limits.js';
import { startedToWire } from '../wire-started.js';

export interface ProtoExecuteCodeRequest {
  language: string;
  code: string;
  stdin: Buffer;
  files: { path: string; content: Buffer }[];
  limits: WireLimits | null;
  entrypoint: string;
  arguments_json: string;
  network: { allow: string[] } | null;
  session_id: string;
  packages: { python: string[]; nodejs: string[] } | null;
}

export function requestFromProto(message: ProtoExecuteCodeRequest): ExecutionRequestInput {
  return {
    language: message.language,
    code: message.code,
    stdin: message.stdin,
    files: message.files.map((file) => ({ path: file.path, content: file.content })),
    limits: requestedLimitsFromWire(message.limits, (value) => value === 0),
    entrypoint: message.entrypoint,
    arguments: parseArgumentsJson(message.arguments_json),
    ...(message.network ? { network: { allow: message.network.allow } } : {}),
    ...packagesFromWire(message.packages),
  };
}

/** ExecuteCode with a session_id: the same fields, checked against the session by the use case. */
export function cellFromProto(message: ProtoExecuteCodeRequest): CellInput {
  return { ...requestFromProto(message), language: message.language };
}

function parseArgumentsJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidArgumentError(`is not valid JSON (${(error as Error).message})`, 'arguments_json');
  }
}

/** One ExecuteCodeResponse per event; exactly one oneof member is set. */
export function eventToProto(event: ExecutionEvent): Record<string, unknown> | undefined {
  switch (event.type) {
    case 'started':
      return { started: startedToWire(event) };
    case 'stdout':
      return { stdout: { data: event.data } };
    case 'stderr':
      return { stderr: { data: event.data } };
    case 'artifact': {
      const { name, mimeType, size, content } = event.artifact;
      return { artifact: { name, mime_type: mimeType, size, content } };
    }
    case 'display':
      return { display: { kind: event.display.kind, data: event.display.data } };
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
          limits: limitsToWire(r.limits),
          return_value: r.returnValue
            ? { present: true, value_json: r.returnValue.json, type: r.returnValue.type }
            : null,
          skipped_artifacts: r.skippedArtifacts,
          skipped_artifacts_total: r.skippedArtifactsTotal,
          egress: egressToWire(r.egress),
          install: installToWire(r.install),
          session_id: r.cell?.sessionId ?? '',
          execution_count: r.cell?.executionCount ?? 0,
          interpreter_restarted: r.cell?.interpreterRestarted ?? false,
          resumed: r.cell?.resumeMs !== undefined,
          resume_ms: r.cell?.resumeMs ?? 0,
        },
      };
    }
  }
}
