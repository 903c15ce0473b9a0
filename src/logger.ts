import { pino, type Logger } from 'pino';

/**
 * JSON logs on stdout. User code and output are never logged at info; per-execution lines carry
 * `executionId` through child loggers.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'code-sandbox' } });
}
