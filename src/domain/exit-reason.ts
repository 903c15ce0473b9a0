/** Why a program ended. Every value is a normal result, never a transport error. */
export const EXIT_REASONS = [
  'ok',
  'error',
  'timeout',
  'oom',
  'output_limit',
  'cancelled',
  'sandbox_error',
] as const;

export type ExitReason = (typeof EXIT_REASONS)[number];
