import { describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../src/domain/execution-result.js';
import { jsonChunks } from '../../src/transport/http/json-chunks.js';
import { ragflowRefusal, ragflowResponse } from '../../src/transport/http/ragflow/ragflow-response.js';
import { parseRunRequestBody } from '../../src/transport/http/ragflow/run-request-body.js';

const result = (overrides: Partial<ExecutionResult>): ExecutionResult => ({
  executionId: 'id-1',
  exitCode: 0,
  signal: 0,
  exitReason: 'ok',
  detail: '',
  durationMs: 12,
  queueWaitMs: 0,
  totalMs: 20,
  stdoutTruncated: false,
  stderrTruncated: false,
  peakMemoryKb: 2048,
  limits: { timeoutMs: 1, memoryBytes: 1, cpuMillicores: 1, maxProcesses: 1, outputBytes: 1 },
  returnValue: null,
  skippedArtifacts: [],
  skippedArtifactsTotal: 0,
  egress: null,
  ...overrides,
});
/** As the client reads it: the streamed JSON, parsed. */
const respond = (overrides: Partial<ExecutionResult>) =>
  JSON.parse(
    [
      ...jsonChunks(
        ragflowResponse({
          result: result(overrides),
          stdout: [Buffer.from('out')],
          stderr: [Buffer.from('err')],
          artifacts: [],
          displays: [],
        }),
      ),
    ].join(''),
  ) as Record<string, unknown>;

describe('ragflowResponse', () => {
  it('maps a success with its return value, time and memory', () => {
    expect(respond({ returnValue: { json: '{"a":[1]}', type: 'dict' } })).toEqual({
      status: 'success',
      stdout: 'out',
      stderr: 'err',
      exit_code: 0,
      detail: null,
      time_used_ms: 12,
      memory_used_kb: 2048,
      resource_limit_type: null,
      unauthorized_access_type: null,
      runtime_error_type: null,
      artifacts: [],
      result: { present: true, value: { a: [1] }, type: 'json' },
      execution_id: 'id-1',
    });
  });

  it.each([
    ['timeout', 'resource_limit_exceeded', 'time'],
    ['oom', 'resource_limit_exceeded', 'memory'],
    ['output_limit', 'resource_limit_exceeded', 'output'],
    ['sandbox_error', 'runtime_error', null],
    ['error', 'program_error', null],
  ] as const)('maps exit reason %s to %s / %s', (exitReason, status, limitType) => {
    expect(respond({ exitReason, exitCode: 1 })).toMatchObject({ status, resource_limit_type: limitType });
  });

  it('tells a signalled program from a non-zero exit', () => {
    expect(respond({ exitReason: 'error', exitCode: 137, signal: 9 }).runtime_error_type).toBe('signalled');
    expect(respond({ exitReason: 'error', exitCode: 2 }).runtime_error_type).toBe('nonzero_exit');
  });

  it('builds refusals in the same shape', () => {
    expect(ragflowRefusal('program_runner_error', 'busy')).toMatchObject({
      status: 'program_runner_error',
      stderr: 'busy',
      result: { present: false, value: null, type: 'json' },
    });
  });
});

describe('parseRunRequestBody', () => {
  it('decodes code_b64 and runs in auto mode with the arguments', () => {
    expect(
      parseRunRequestBody({
        code_b64: Buffer.from('def main(x): return x').toString('base64'),
        language: 'python',
        arguments: { x: 1 },
        extra: 'ignored',
      }),
    ).toEqual({ language: 'python', code: 'def main(x): return x', entrypoint: 'auto', arguments: { x: 1 } });
  });

  it.each([
    ['python3', 'python'],
    ['Python', 'python'],
    ['javascript', 'nodejs'],
    ['NodeJS', 'nodejs'],
    ['ruby', 'ruby'],
  ])("takes RAGFlow's language name %s as %s (unknown names are left for validation)", (given, language) => {
    expect(parseRunRequestBody({ code_b64: 'eA==', language: given }).language).toBe(language);
  });

  it('treats missing or null arguments as none', () => {
    expect(parseRunRequestBody({ code_b64: 'eA==', language: 'nodejs', arguments: null }).arguments).toEqual(
      {},
    );
    expect(parseRunRequestBody({ code_b64: 'eA==', language: 'nodejs' }).arguments).toEqual({});
  });

  it.each([
    [{ code_b64: 'not base64', language: 'python' }, /^code_b64: must be standard base64/],
    [{ code_b64: '//4=', language: 'python' }, /^code_b64: does not decode to UTF-8 text/],
    [{ code_b64: 'eA==', language: 'python', arguments: [1] }, /^arguments: must be a JSON object/],
    [{ code_b64: 'eA==' }, /^language/],
  ])('refuses %j', (body, message) => {
    expect(() => parseRunRequestBody(body)).toThrow(message);
  });
});
