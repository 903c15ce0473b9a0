import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturedLog } from '../support/captured-log.js';
import { executeGrpc, postJson, python, startTestApp, type TestApp } from '../support/test-app.js';

describe('structured logs at info', () => {
  const log = new CapturedLog();
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, pino({ level: 'info' }, log));
  });
  afterAll(async () => t?.stop());

  it('carry the execution id on every line about an execution, and never the code or its output', async () => {
    const secretInCode = 'CODE-MARKER-7f3a9';
    const secretInOutput = 'OUTPUT-MARKER-c41d2';
    const grpc = await executeGrpc(
      t.grpc,
      python(
        `# ${secretInCode}\nimport sys\nprint("${secretInOutput}".lower())\nprint("${secretInOutput}".lower(), file=sys.stderr)\nsys.exit(3)`,
        { stdin: Buffer.from('STDIN-MARKER-99be1') },
      ),
    );
    expect(grpc.result?.exit_reason).toBe('error');
    const http = await postJson(`${t.httpUrl}/run`, {
      code_b64: Buffer.from(
        `def main(x):\n    # ${secretInCode}\n    return "${secretInOutput}".lower()`,
      ).toString('base64'),
      language: 'python',
      arguments: { x: 'ARGUMENT-MARKER-51aa0' },
    });
    expect(http.json.status).toBe('success');

    const executionIds = [grpc.executionId, http.json.execution_id as string];
    for (const id of executionIds) {
      const about = log.lines.filter((line) => line.executionId === id).map((line) => line.msg);
      expect(about, id).toEqual(expect.arrayContaining(['execution started', 'execution finished']));
    }
    // Any line that names an execution-level event names its execution.
    for (const line of log.lines.filter((l) => /^execution |sandbox (claimed|started)/.test(String(l.msg)))) {
      expect(executionIds, JSON.stringify(line)).toContain(line.executionId);
    }
    const everything = log.raw.join('\n').toLowerCase();
    for (const marker of [secretInCode, secretInOutput, 'STDIN-MARKER-99be1', 'ARGUMENT-MARKER-51aa0']) {
      expect(everything).not.toContain(marker.toLowerCase());
    }
  });
});
