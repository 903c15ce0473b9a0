import { join } from 'node:path';
import type { Language } from '../../domain/languages.js';
import { SANDBOX_PROTOCOL } from './sandbox-protocol.js';

/**
 * Where a sandbox's installed packages live on the host: a directory of its job directory, which the
 * program or interpreter sees read-only (protocol.json packages.python_dir, on sys.path; or
 * node_modules, found by require from the job directory and, in a session, through NODE_PATH).
 */
export function packagesDirectory(jobHostDir: string, language: Language): string {
  const { packages } = SANDBOX_PROTOCOL;
  return join(jobHostDir, language === 'python' ? packages.python_dir : packages.nodejs_dir);
}
