import type { z } from 'zod';
import { InvalidArgumentError } from '../../errors/service-error.js';
import { zodIssuePath } from '../../errors/zod-issue.js';

/** Shape-checks a JSON body with `schema`; the error names the first bad field (e.g. `files[0].path`). */
export function parseBody<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue ? zodIssuePath(issue) : '';
  throw new InvalidArgumentError(issue?.message ?? 'invalid request body', field || undefined);
}
