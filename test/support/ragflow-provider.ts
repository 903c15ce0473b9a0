import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { readSandboxImages } from '../../src/config/sandbox-images.js';

const exec = promisify(execFile);

/**
 * RAGFlow's side: test/integration/ragflow_provider_client.py (written from RAGFlow's provider) in a
 * container on `network`, calling the service as RAGFlow does, at sandbox-executor-manager:9385.
 */
export async function runRagflowProviderClient(network: string): Promise<RagflowProviderReport> {
  const { stdout } = await exec(
    'docker',
    [
      'run',
      '--rm',
      '--network',
      network,
      '-v',
      `${process.cwd()}/test/integration/ragflow_provider_client.py:/client.py:ro`,
      // RAGFlow's side needs Python with requests: the Python sandbox image setup builds has it.
      readSandboxImages().python,
      'python3',
      '/client.py',
      'http://sandbox-executor-manager:9385',
    ],
    { timeout: 120_000 },
  );
  return JSON.parse(stdout) as RagflowProviderReport;
}

/** What test/integration/ragflow_provider_client.py prints. */
export interface RagflowProviderReport {
  health: number;
  calls: Record<string, { http: number; status: string; stdout: string; result: unknown }>;
  burst: { http?: number; status?: string; resource_limit_type?: string; seconds?: number; error?: string }[];
}

/** Every call of RAGFlow's provider succeeded, and its burst of 5 loops all ended by the time limit. */
export function expectRagflowProviderServed(report: RagflowProviderReport): void {
  expect(report.health).toBe(200);
  expect(report.calls).toMatchObject({
    python3_pandas: {
      http: 200,
      status: 'success',
      result: { present: true, value: { total: 7, rows: 3 }, type: 'json' },
    },
    javascript_axios: {
      http: 200,
      status: 'success',
      result: { present: true, value: { client: 'function', doubled: 42 }, type: 'json' },
    },
    python_print: { http: 200, status: 'success', stdout: 'hello from ragflow\n' },
    nodejs_main: { http: 200, status: 'success', result: { present: true, value: [1, 'ok'], type: 'json' } },
  });
  expect(report.burst).toHaveLength(5);
  for (const call of report.burst) {
    expect(call).toMatchObject({ http: 200, status: 'resource_limit_exceeded', resource_limit_type: 'time' });
  }
}
