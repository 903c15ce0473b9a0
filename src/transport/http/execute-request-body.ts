import { z } from 'zod';
import type { ExecutionRequestInput } from '../../domain/execution-request.js';
import { InvalidArgumentError } from '../../errors/service-error.js';
import { zodIssuePath } from '../../errors/zod-issue.js';
import { requestedLimitsFromWire } from '../wire-limits.js';
import { base64String } from './base64-string.js';

const limitsSchema = z
  .object({
    timeout_ms: z.number(),
    memory_bytes: z.number(),
    cpu_millicores: z.number(),
    max_processes: z.number(),
    output_bytes: z.number(),
  })
  .partial()
  .strict();

const fileSchema = z
  .object({ path: z.string(), content: z.string().optional(), content_b64: base64String.optional() })
  .strict()
  .refine((file) => (file.content === undefined) !== (file.content_b64 === undefined), {
    message: 'exactly one of "content" (UTF-8 text) or "content_b64" must be given',
  });

/**
 * JSON body of POST /v1/execute: the gRPC ExecuteCodeRequest in JSON, with bytes given either as
 * text (`stdin`, `files[].content`) or as base64 (`stdin_b64`, `files[].content_b64`).
 */
export const executeRequestBodySchema = z
  .object({
    language: z.string(),
    code: z.string(),
    stdin: z.string().optional(),
    stdin_b64: base64String.optional(),
    files: z.array(fileSchema).optional(),
    limits: limitsSchema.optional(),
    entrypoint: z.string().optional(),
    arguments: z.unknown().optional(),
    network: z
      .object({ allow: z.array(z.string()).optional() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((body) => body.stdin === undefined || body.stdin_b64 === undefined, {
    message: 'give "stdin" or "stdin_b64", not both',
    path: ['stdin'],
  });

/** Decodes and shape-checks a JSON body; the domain then checks the rules. Throws naming the field. */
export function parseExecuteRequestBody(body: unknown): ExecutionRequestInput {
  const parsed = executeRequestBodySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue ? zodIssuePath(issue) : '';
    throw new InvalidArgumentError(issue?.message ?? 'invalid request body', field || undefined);
  }
  const b = parsed.data;
  return {
    language: b.language,
    code: b.code,
    stdin:
      b.stdin_b64 !== undefined ? Buffer.from(b.stdin_b64, 'base64') : Buffer.from(b.stdin ?? '', 'utf8'),
    files: (b.files ?? []).map((file) => ({
      path: file.path,
      content:
        file.content_b64 !== undefined
          ? Buffer.from(file.content_b64, 'base64')
          : Buffer.from(file.content ?? '', 'utf8'),
    })),
    limits: requestedLimitsFromWire(b.limits),
    entrypoint: b.entrypoint,
    arguments: b.arguments,
    ...(b.network ? { network: { allow: b.network.allow ?? [] } } : {}),
  };
}
