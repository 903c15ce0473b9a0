import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { errorFromGrpc } from './error-from-grpc.js';
import { SandboxError } from './errors.js';
import { OutputText } from './output-text.js';
import type { Artifact, Display, ExecutionResult, OutputOptions } from './types.js';
import {
  artifactFromWire,
  displayFromWire,
  egressFromWire,
  installFromWire,
  limitsFromWire,
  returnValueFromWire,
  type WireEvent,
  type WireResult,
  type WireStarted,
} from './wire.js';

/**
 * Reads one ExecuteCode response stream into an ExecutionResult, calling the output callbacks as the
 * events arrive, so every callback has run before the returned promise settles. Aborting `signal`
 * cancels the call (the service then kills the sandbox, or interrupts the cell) and rejects with the
 * signal's reason; a callback that throws cancels the call and rejects with what it threw.
 */
export function collectExecution(
  call: ClientReadableStream<WireEvent>,
  options: OutputOptions,
): Promise<ExecutionResult> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    // Chunk boundaries are arbitrary bytes: streaming decoders hand callbacks whole characters only.
    const stdout = new OutputText(options.onStdout);
    const stderr = new OutputText(options.onStderr);
    const artifacts: Artifact[] = [];
    const displays: Display[] = [];
    let started: WireStarted | undefined;
    let result: WireResult | undefined;
    let failure: { error: unknown } | undefined;

    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (error: unknown) => {
      failure ??= { error };
      call.cancel();
    };

    call.on('data', (message: WireEvent) => {
      if (failure) return;
      try {
        if (message.started) started = message.started;
        else if (message.stdout) stdout.push(message.stdout.data);
        else if (message.stderr) stderr.push(message.stderr.data);
        else if (message.artifact) artifacts.push(artifactFromWire(message.artifact));
        else if (message.display) {
          const display = displayFromWire(message.display);
          displays.push(display);
          options.onDisplay?.(display);
        } else if (message.result) result = message.result;
      } catch (error) {
        fail(error);
      }
    });
    call.on('error', (error: ServiceError) => {
      failure ??= { error: signal?.aborted ? signal.reason : errorFromGrpc(error) };
    });
    // grpc-js reports the status right after ending the stream, possibly before the last messages
    // were delivered: settle once both the status is in and the stream has ended.
    let statusReceived = false;
    call.on('status', () => {
      statusReceived = true;
      if (call.readableEnded) settle();
    });
    call.on('end', () => {
      if (statusReceived) settle();
    });
    const settle = () => {
      signal?.removeEventListener('abort', onAbort);
      if (!failure) {
        try {
          stdout.end();
          stderr.end();
        } catch (error) {
          failure = { error };
        }
      }
      if (failure) return reject(failure.error);
      if (!result) {
        return reject(new SandboxError('INTERNAL', 'the response stream ended without a result'));
      }
      resolve(resultFrom(result, started, stdout.text, stderr.text, artifacts, displays));
    };
  });
}

function resultFrom(
  result: WireResult,
  started: WireStarted | undefined,
  stdout: string,
  stderr: string,
  artifacts: Artifact[],
  displays: Display[],
): ExecutionResult {
  const returnValue = returnValueFromWire(result.return_value);
  const egress = egressFromWire(result.egress);
  const install = installFromWire(result.install);
  const value = displays.find((display) => display.kind === 'execute_result');
  return {
    executionId: result.execution_id,
    exitReason: result.exit_reason,
    exitCode: result.exit_code,
    signal: result.signal,
    detail: result.detail,
    stdout,
    stderr,
    stdoutTruncated: result.stdout_truncated,
    stderrTruncated: result.stderr_truncated,
    ...(returnValue ? { returnValue } : {}),
    artifacts,
    skippedArtifacts: result.skipped_artifacts.map(({ name, reason }) => ({ name, reason })),
    skippedArtifactsTotal: result.skipped_artifacts_total,
    displays,
    ...(value?.text !== undefined ? { text: value.text } : {}),
    durationMs: result.duration_ms,
    queueWaitMs: result.queue_wait_ms,
    totalMs: result.total_ms,
    peakMemoryKb: result.peak_memory_kb,
    limits: limitsFromWire(result.limits),
    ...(egress ? { egress } : {}),
    ...(install ? { install } : {}),
    sandboxId: started?.sandbox_id ?? '',
    warmStart: started?.warm_start ?? false,
    ...(result.session_id ? { sessionId: result.session_id, executionCount: result.execution_count } : {}),
    interpreterRestarted: result.interpreter_restarted,
  };
}
