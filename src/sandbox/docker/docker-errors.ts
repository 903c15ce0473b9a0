import { UnavailableError } from '../../errors/service-error.js';

/** Docker operations whose failures are counted (code_sandbox_docker_errors_total{operation}). */
export type DockerOperation = 'start' | 'remove' | 'reap';
/** Told about each failed docker operation, for metrics. Must not throw. */
export type DockerErrorListener = (operation: DockerOperation) => void;

interface DockerodeError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | null;
}

const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE']);

/** True when the error means dockerd itself could not be reached. */
function isDockerConnectionError(error: unknown): boolean {
  const code = (error as DockerodeError | undefined)?.code;
  return code !== undefined && CONNECTION_ERROR_CODES.has(code);
}

/** Docker's own message, without dockerode's "(HTTP code N) ..." prefix. */
export function dockerMessage(error: unknown): string {
  const e = error as DockerodeError | undefined;
  return (e?.json?.message ?? e?.message ?? String(error)).trim();
}

/**
 * Turns a failure to create or start a sandbox into the error a client sees: always UNAVAILABLE (the
 * request was fine; the service cannot run sandboxes right now), with what an operator must fix.
 */
export function sandboxStartError(
  error: unknown,
  context: { image: string; runtime: string; socket: string },
): UnavailableError {
  const e = error as DockerodeError | undefined;
  const message = dockerMessage(error);
  if (isDockerConnectionError(error)) {
    return new UnavailableError(
      `docker is not reachable at ${context.socket} (${e?.code}); is dockerd running?`,
      { cause: error },
    );
  }
  if (e?.statusCode === 404 && /image/i.test(message)) {
    return new UnavailableError(
      `sandbox image "${context.image}" is not present; build it with "npm run setup"`,
      { cause: error },
    );
  }
  if (/unknown or invalid runtime name/i.test(message)) {
    return new UnavailableError(
      `the "${context.runtime}" runtime is not registered in dockerd (see /etc/docker/daemon.json); run "npm run setup"`,
      { cause: error },
    );
  }
  return new UnavailableError(`the sandbox could not be started: ${message}`, { cause: error });
}
