import type { Artifact } from '../../domain/artifact.js';
import type { Display } from '../../domain/display.js';
import type { ExecutionRequestInput } from '../../domain/execution-request.js';
import type { ExecutionResult, OutputStream } from '../../domain/execution-result.js';
import type { ExecuteOptions, ExecutionService } from '../../execution/execution-service.js';

export interface CollectedExecution {
  result: ExecutionResult;
  stdout: Buffer;
  stderr: Buffer;
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
): Promise<CollectedExecution> {
  return collect((options) => service.execute(input, options), signal);
}

export async function collect(execute: Execute, signal: AbortSignal): Promise<CollectedExecution> {
  const output: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const artifacts: Artifact[] = [];
  const displays: Display[] = [];
  const result = await execute({
    signal,
    onEvent: (event) => {
      if (event.type === 'stdout' || event.type === 'stderr') output[event.type].push(event.data);
      else if (event.type === 'artifact') artifacts.push(event.artifact);
      else if (event.type === 'display') displays.push(event.display);
    },
  });
  return {
    result,
    stdout: Buffer.concat(output.stdout),
    stderr: Buffer.concat(output.stderr),
    artifacts,
    displays,
  };
}
