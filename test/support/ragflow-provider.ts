import { expect } from 'vitest';

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
