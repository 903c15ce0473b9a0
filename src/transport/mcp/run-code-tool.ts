import { z } from 'zod';
import { LANGUAGES } from '../../domain/languages.js';
import type { ExecutionService } from '../../execution/execution-service.js';
import { decodeFile, fileSchema } from '../http/execute-request-body.js';
import { networkArgument, requestedNetwork } from './network-argument.js';
import { defineTool, type McpTool } from './mcp-tool.js';
import {
  bytes,
  describeImages,
  describeNetwork,
  describeOneShotLimits,
  type SandboxFacts,
} from './sandbox-description.js';
import { executeForTool } from './tool-execution.js';

/** The input schema of run_code; `network` only where the server allows any egress. */
export function runCodeInputSchema(facts: SandboxFacts) {
  const { defaultLimits, limitCeilings } = facts;
  return z
    .object({
      language: z.enum(LANGUAGES).describe('The language of `code`.'),
      code: z.string().describe('The whole program, run as a script. ' + 'Print what you want to see.'),
      files: z
        .array(fileSchema)
        .optional()
        .describe(
          'Input files written to the working directory before the program starts: ' +
            '{"path": "data.csv", "content": "<text>"} or {"path": "x.bin", "content_b64": "<base64>"}.',
        ),
      timeout_ms: z
        .number()
        .int()
        .optional()
        .describe(
          `Wall-clock limit in milliseconds; default ${defaultLimits.timeoutMs}, at most ${limitCeilings.timeoutMs}.`,
        ),
      ...networkArgument(
        facts,
        'Hosts the program may reach ("host", "host:port", "*.domain"), within the server\'s allowlist; absent = no network.',
      ),
    })
    .strict();
}

/** run_code: one program in a fresh sandbox, through the same validation and limits as /v1/execute. */
export function runCodeTool(service: ExecutionService, facts: SandboxFacts): McpTool {
  return defineTool({
    name: 'run_code',
    title: 'Run code in a sandbox',
    description: [
      'Run a Python or Node.js program in a fresh, isolated sandbox (gVisor, non-root, read-only system) ' +
        'and get back its stdout, stderr and how it ended. Every call starts from scratch: nothing is kept ' +
        'between calls (use create_session for that).',
      'Available:',
      describeImages(facts),
      'Nothing can be installed.',
      `Files the program writes under ./artifacts/ come back as resources (at most ${facts.maxArtifacts}, ` +
        `${bytes(facts.maxArtifactBytes)} each); save plots there, e.g. plt.savefig("artifacts/plot.png").`,
      describeOneShotLimits(facts),
      describeNetwork(facts),
      'A program that fails (exception, non-zero exit, timeout, out of memory, too much output) returns ' +
        'isError with its output and the reason.',
    ].join('\n'),
    inputSchema: runCodeInputSchema(facts),
    annotations: {
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: false,
      openWorldHint: facts.egressCeiling.length > 0,
    },
    call: (args, call) =>
      executeForTool(
        (options) =>
          service.execute(
            {
              language: args.language,
              code: args.code,
              files: (args.files ?? []).map(decodeFile),
              limits: args.timeout_ms === undefined ? {} : { timeoutMs: args.timeout_ms },
              ...requestedNetwork(args),
            },
            options,
          ),
        call,
      ),
  });
}
