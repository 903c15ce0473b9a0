import type { Artifact } from '../../domain/artifact.js';
import type { Display } from '../../domain/display.js';
import type { ExecutionRequestInput } from '../../domain/execution-request.js';
import type { ExecutionResult, OutputStream } from '../../domain/execution-result.js';
import type { ExecuteOptions, ExecutionService } from '../../execution/execution-service.js';
import { detachedEvent } from '../detached-event.js';

export interface CollectedExecution {
  result: ExecutionResult;
  /** The output as it arrived, in pieces: never joined into one more copy (see JsonBytes). */
  stdout: Buffer[];
  stderr: Buffer[];
  artifacts: Artifact[];
  displays: Display[];
}

/** Starts an execution (one-shot or a session cell) with the given options; resolves with its result. */
export type Execute = (options: ExecuteOptions) => Promise<ExecutionResult>;

/** Runs an execution to its end and gathers its output, artifacts and displays (all already capped). */
export async function executeCollecting(
  service: ExecutionService,
  input: ExecutionRequestInput,
  signal: AbortSignal,
  clientKey: string,
): Promise<CollectedExecution> {
  return collect((options) => service.execute(input, options), signal, clientKey);
}

/** Runs an execution started by `execute` to its end and gathers what it produced. */
export async function collect(
  execute: Execute,
  signal: AbortSignal,
  clientKey: string,
): Promise<CollectedExecution> {
  const output: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const artifacts: Artifact[] = [];
  const displays: Display[] = [];
  const result = await execute({
    signal,
    clientKey,
    onEvent: (received) => {
      const event = detachedEvent(received);
      if (event.type === 'stdout' || event.type === 'stderr') output[event.type].push(event.data);
      else if (event.type === 'artifact') artifacts.push(event.artifact);
      else if (event.type === 'display') displays.push(event.display);
    },
  });
  return { result, stdout: output.stdout, stderr: output.stderr, artifacts, displays };
}
