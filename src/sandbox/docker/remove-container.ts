import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { DockerErrorListener } from './docker-errors.js';

const REMOVAL_ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;

/**
 * Force-removes a container (killing it if it still runs). Already gone counts as success; a
 * "removal already in progress" conflict is retried. Never throws: a container that could not be
 * removed is logged and left to the reaper, which finds it by its labels.
 */
export async function removeContainer(
  container: Docker.Container,
  logger: Logger,
  onDockerError?: DockerErrorListener,
): Promise<void> {
  for (let attempt = 1; attempt <= REMOVAL_ATTEMPTS; attempt++) {
    try {
      await container.remove({ force: true, v: true });
      return;
    } catch (error) {
      const statusCode = (error as { statusCode?: number }).statusCode;
      if (statusCode === 404) return;
      if (attempt === REMOVAL_ATTEMPTS || statusCode !== 409) {
        logger.warn({ containerId: container.id, err: error }, 'container removal failed');
        onDockerError?.('remove');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  }
}
