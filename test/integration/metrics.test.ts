import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeGrpc, python, startTestApp, type TestApp } from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ SANDBOX_POOL_SIZE: '1' });
});
afterAll(async () => t?.stop());

async function scrape(): Promise<string> {
  const response = await fetch(`${t.httpUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

/** The value of one sample line, e.g. `code_sandbox_executions_total{language="python",exit_reason="ok"}`. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('GET /metrics', () => {
  it('moves as executions run and requests are refused', async () => {
    const before = await scrape();
    await executeGrpc(t.grpc, python('print(1)'));
    await executeGrpc(t.grpc, python('raise SystemExit(2)'));
    await executeGrpc(t.grpc, { language: 'cobol', code: 'x' });
    const after = await scrape();

    const ok = 'code_sandbox_executions_total{language="python",exit_reason="ok"}';
    const error = 'code_sandbox_executions_total{language="python",exit_reason="error"}';
    const invalid = 'code_sandbox_refusals_total{reason="invalid_argument"}';
    expect(sample(after, ok) - sample(before, ok)).toBe(1);
    expect(sample(after, error) - sample(before, error)).toBe(1);
    expect(sample(after, invalid) - sample(before, invalid)).toBe(1);
    const claims = (text: string) =>
      sample(text, 'code_sandbox_pool_claims_total{language="python",result="hit"}') +
      sample(text, 'code_sandbox_pool_claims_total{language="python",result="miss"}');
    expect(claims(after) - claims(before)).toBe(2);
    expect(sample(after, 'code_sandbox_end_to_end_seconds_count{language="python"}')).toBeGreaterThanOrEqual(
      2,
    );
    expect(after).toMatch(/^code_sandbox_pool_idle_sandboxes\{language="python"\} \d+$/m);
    // The pool's current aim, between its floor and its ceiling.
    const target = sample(after, 'code_sandbox_pool_target_sandboxes{language="python"}');
    expect(target).toBeGreaterThanOrEqual(t.config.poolMin);
    expect(target).toBeLessThanOrEqual(t.config.poolMax);
    expect(after).toMatch(/^code_sandbox_queue_depth 0$/m);
    // Bounded labels only: no execution or sandbox ids anywhere.
    expect(after).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}/);
  });
});
