import type { Artifact } from '../../domain/artifact.js';
import type { ExecutionRequestInput } from '../../domain/execution-request.js';
import type { ExecutionResult, OutputStream } from '../../domain/execution-result.js';
import type { ExecutionService } from '../../execution/execution-service.js';

export interface CollectedExecution {
  result: ExecutionResult;
  stdout: Buffer;
  stderr: Buffer;
  artifacts: Artifact[];
}

/** Runs an execution to its end and gathers its output and artifacts (both already capped). */
export async function executeCollecting(
  service: ExecutionService,
  input: ExecutionRequestInput,
  signal: AbortSignal,
  clientKey: string,
): Promise<CollectedExecution> {
  const output: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const artifacts: Artifact[] = [];
  const result = await service.execute(input, {
    signal,
    clientKey,
    onEvent: (event) => {
      if (event.type === 'stdout' || event.type === 'stderr') output[event.type].push(event.data);
      else if (event.type === 'artifact') artifacts.push(event.artifact);
    },
  });
  return { result, stdout: Buffer.concat(output.stdout), stderr: Buffer.concat(output.stderr), artifacts };
}
