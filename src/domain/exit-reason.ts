/** Why a program ended. Every value is a normal result, never a transport error. */
export const EXIT_REASONS = [
  'ok',
  'error',
  'timeout',
  'oom',
  'output_limit',
  'cancelled',
  'sandbox_error',
  // The request's `packages` could not be installed; the program did not run (docs/packages.md).
  'install_error',
] as const;

export type ExitReason = (typeof EXIT_REASONS)[number];
