import type { z } from 'zod';

/** The path of a zod issue as "a.b[2].c" ("" for the root): the one spelling used in every message. */
export function zodIssuePath(issue: z.core.$ZodIssue): string {
  return issue.path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index > 0 ? '.' : ''}${String(key)}`))
    .join('');
}

/** "path: message", or just the message for an issue about the whole value. */
export function formatZodIssue(issue: z.core.$ZodIssue): string {
  const path = zodIssuePath(issue);
  return path ? `${path}: ${issue.message}` : issue.message;
}
