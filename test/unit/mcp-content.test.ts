import { describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../src/domain/execution-result.js';
import { executionContent, fileResource } from '../../src/transport/mcp/mcp-content.js';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

function result(overrides: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    executionId: 'e1',
    exitCode: 0,
    signal: 0,
    exitReason: 'ok',
    detail: '',
    durationMs: 12,
    queueWaitMs: 0,
    totalMs: 20,
    stdoutTruncated: false,
    stderrTruncated: false,
    peakMemoryKb: 0,
    limits: { timeoutMs: 1000, memoryBytes: 1, cpuMillicores: 1, maxProcesses: 4, outputBytes: 64 },
    returnValue: null,
    skippedArtifacts: [],
    skippedArtifactsTotal: 0,
    egress: null,
    ...overrides,
  };
}

const collected = (overrides: Partial<Parameters<typeof executionContent>[0]> = {}) => ({
  result: result(),
  stdout: [],
  stderr: [],
  artifacts: [],
  displays: [],
  ...overrides,
});

describe('executionContent', () => {
  it('gives stdout as printed, stderr and the return value labelled, then how it ended', () => {
    const content = executionContent(
      collected({
        result: result({ returnValue: { json: '{"x":42}', type: 'dict' } }),
        stdout: [Buffer.from('4'), Buffer.from('2\n')],
        stderr: [Buffer.from('warning\n')],
      }),
    );
    expect(content.isError).toBeUndefined();
    expect(content.content).toEqual([
      { type: 'text', text: '42\n' },
      { type: 'text', text: '[stderr]\nwarning\n' },
      { type: 'text', text: '[return value: dict]\n{"x":42}' },
      { type: 'text', text: 'exit_reason: ok; exit_code: 0; duration_ms: 12' },
    ]);
    expect(content.structuredContent).toMatchObject({ execution_id: 'e1', exit_reason: 'ok' });
  });

  it.each(['error', 'timeout', 'oom', 'output_limit', 'cancelled', 'sandbox_error'] as const)(
    'marks a program that ended with %s as an error result with the reason',
    (exitReason) => {
      const content = executionContent(
        collected({ result: result({ exitReason, exitCode: 137, detail: 'why', stdoutTruncated: true }) }),
      );
      expect(content.isError).toBe(true);
      expect(content.content.at(-1)).toEqual({
        type: 'text',
        text: `exit_reason: ${exitReason}; exit_code: 137; duration_ms: 12; detail: why; output truncated at 64 bytes`,
      });
    },
  );

  it('shows a plot as image content and a plain value as text', () => {
    const content = executionContent(
      collected({
        displays: [
          {
            kind: 'display_data',
            data: {
              'text/plain': Buffer.from('<Figure>'),
              'image/svg+xml': Buffer.from('<svg/>'),
              'image/png': PNG,
            },
          },
          {
            kind: 'execute_result',
            data: { 'text/html': Buffer.from('<b>6</b>'), 'text/plain': Buffer.from('6') },
          },
        ],
      }),
    );
    expect(content.content.slice(0, 2)).toEqual([
      { type: 'image', mimeType: 'image/png', data: PNG.toString('base64') },
      { type: 'text', text: '6' },
    ]);
  });

  it('gives artifacts as embedded resources: text for textual types, base64 otherwise', () => {
    const content = executionContent(
      collected({
        artifacts: [
          { name: 'out/table.csv', mimeType: 'text/csv', size: 4, content: Buffer.from('a,b\n') },
          { name: 'plot.png', mimeType: 'image/png', size: PNG.length, content: PNG },
        ],
      }),
    );
    expect(content.content.slice(0, 2)).toEqual([
      {
        type: 'resource',
        resource: {
          uri: 'sandbox://executions/e1/artifacts/out/table.csv',
          mimeType: 'text/csv',
          text: 'a,b\n',
        },
      },
      {
        type: 'resource',
        resource: {
          uri: 'sandbox://executions/e1/artifacts/plot.png',
          mimeType: 'image/png',
          blob: PNG.toString('base64'),
        },
      },
    ]);
  });
});

describe('fileResource', () => {
  it('sends a textual type that is not UTF-8 as base64, so no byte is lost', () => {
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
    expect(fileResource('sandbox://x', 'text/plain', latin1)).toEqual({
      type: 'resource',
      resource: { uri: 'sandbox://x', mimeType: 'text/plain', blob: latin1.toString('base64') },
    });
  });
});
