import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import type { ExecutionRequestInput } from '../../../domain/execution-request.js';
import { InvalidArgumentError } from '../../../errors/service-error.js';
import { zodIssuePath } from '../../../errors/zod-issue.js';
import { base64String } from '../base64-string.js';

/**
 * RAGFlow's executor-manager request: `{code_b64, language, arguments}`. Unknown fields are ignored
 * (RAGFlow may send more over time); what is there must be right.
 */
const runRequestSchema = z.object({
  code_b64: base64String,
  language: z.string(),
  arguments: z
    .record(z.string(), z.unknown(), { error: 'must be a JSON object (keyword arguments for main)' })
    .nullish(),
});

/**
 * The language names RAGFlow uses (agent/sandbox/providers/self_managed.py normalises these itself,
 * other RAGFlow paths may not), any case.
 */
const RAGFLOW_LANGUAGE_ALIASES: Record<string, string> = {
  python: 'python',
  python3: 'python',
  nodejs: 'nodejs',
  javascript: 'nodejs',
};

/** Decodes a /run body into a request in "auto" mode: main(**arguments) when defined, else a script. */
export function parseRunRequestBody(body: unknown): ExecutionRequestInput {
  const parsed = runRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidArgumentError(
      issue?.message ?? 'invalid request body',
      (issue && zodIssuePath(issue)) || undefined,
    );
  }
  const code = Buffer.from(parsed.data.code_b64, 'base64');
  if (!isUtf8(code)) throw new InvalidArgumentError('does not decode to UTF-8 text', 'code_b64');
  return {
    language: RAGFLOW_LANGUAGE_ALIASES[parsed.data.language.toLowerCase()] ?? parsed.data.language,
    code: code.toString('utf8'),
    entrypoint: 'auto',
    arguments: parsed.data.arguments ?? {},
  };
}
