import { packagesFromWire } from '../wire-install.js';
import { z } from 'zod';
import type { ExecutionRequestInput, InputFile } from '../../domain/execution-request.js';
import type { RequestedLimits } from '../../domain/limits.js';
import { parseBody } from './parse-body.js';
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

export const fileSchema = z
  .object({ path: z.string(), content: z.string().optional(), content_b64: base64String.optional() })
  .strict()
  .refine((file) => (file.content === undefined) !== (file.content_b64 === undefined), {
    message: 'exactly one of "content" (UTF-8 text) or "content_b64" must be given',
  });

/** `packages` of an execution or a session: `{python: ["tabulate"], nodejs: ["lodash@4.17.21"]}`. */
export const packagesSchema = z
  .object({ python: z.array(z.string()).optional(), nodejs: z.array(z.string()).optional() })
  .strict();

/** `network` of an execution or a session: `{allow: ["host[:port]", …]}`. */
export const networkSchema = z.object({ allow: z.array(z.string()).optional() }).strict();

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
    network: networkSchema.optional(),
    packages: packagesSchema.optional(),
  })
  .strict()
  .refine((body) => body.stdin === undefined || body.stdin_b64 === undefined, {
    message: 'give "stdin" or "stdin_b64", not both',
    path: ['stdin'],
  });

/** An input file's bytes from its text or base64 form. */
export function decodeFile(file: z.infer<typeof fileSchema>): InputFile {
  return {
    path: file.path,
    content:
      file.content_b64 !== undefined
        ? Buffer.from(file.content_b64, 'base64')
        : Buffer.from(file.content ?? '', 'utf8'),
  };
}

/** A `limits` object (or nothing) as the limits a request asked for. */
export function parseLimits(limits: unknown): RequestedLimits {
  return requestedLimitsFromWire(limits === undefined ? undefined : parseBody(limitsSchema, limits));
}

/**
 * Decodes and shape-checks a JSON body; the domain then checks the rules. Throws naming the field. A
 * session cell may leave `language` out (it is the session's).
 */
export function parseExecuteRequestBody(
  body: unknown,
  { languageOptional = false } = {},
): ExecutionRequestInput {
  const withLanguage =
    languageOptional && typeof body === 'object' && body !== null && !('language' in body)
      ? { ...body, language: '' }
      : body;
  const b = parseBody(executeRequestBodySchema, withLanguage);
  return {
    language: b.language,
    code: b.code,
    stdin:
      b.stdin_b64 !== undefined ? Buffer.from(b.stdin_b64, 'base64') : Buffer.from(b.stdin ?? '', 'utf8'),
    files: (b.files ?? []).map(decodeFile),
    limits: requestedLimitsFromWire(b.limits),
    entrypoint: b.entrypoint,
    arguments: b.arguments,
    ...(b.network ? { network: { allow: b.network.allow ?? [] } } : {}),
    ...packagesFromWire(b.packages),
  };
}
