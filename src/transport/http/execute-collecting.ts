import type { Artifact } from '../../domain/artifact.js';
import type { ExecutionRequestInput } from '../../domain/execution-request.js';
import type { ExecutionResult, OutputStream } from '../../domain/execution-result.js';
import type { ExecutionService } from '../../execution/execution-service.js';
import { detachedEvent } from '../detached-event.js';

export interface CollectedExecution {
  result: ExecutionResult;
  /** The output as it arrived, in pieces: never joined into one more copy (see JsonBytes). */
  stdout: Buffer[];
  stderr: Buffer[];
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
    onEvent: (received) => {
      const event = detachedEvent(received);
      if (event.type === 'stdout' || event.type === 'stderr') output[event.type].push(event.data);
      else if (event.type === 'artifact') artifacts.push(event.artifact);
    },
  });
  return { result, stdout: output.stdout, stderr: output.stderr, artifacts };
}
