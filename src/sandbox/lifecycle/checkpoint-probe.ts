import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { CheckpointSupport } from '../../session/session-sandbox.js';
import { checkpointContainer, readableDockerRoot } from '../docker/container-checkpoint.js';
import { restoreWithoutLeftovers } from '../docker/restore-staging.js';
import { dockerMessage } from '../docker/docker-errors.js';
import { removeContainer } from '../docker/remove-container.js';
import { sandboxLabels } from '../docker/sandbox-labels.js';
import { withinMs } from './within-ms.js';

export interface CheckpointProbeOptions {
  docker: Docker;
  instanceId: string;
  image: string;
  runtime: string;
  /** containerd's temporary directory as seen from here: the restore's copy is removed from it. */
  checkpointStagingDir: string;
  logger: Logger;
}

/** The probe container's sandbox label starts with this (tests tell it from an execution's). */
export const CHECKPOINT_PROBE_PREFIX = 'checkpoint-probe-';

/** The probe container is gone long before this; the label only guides a reaper after a crash. */
const PROBE_EXPIRY_MS = 60_000;
const PROBE_MEMORY_BYTES = 128 * 1024 * 1024;

/**
 * Whether this dockerd and runtime can checkpoint and restore a sandbox, found out the only reliable
 * way: a tiny container of the sandbox image and runtime is started, checkpointed (it stops),
 * started from its checkpoint and must be running again; then it is removed. Docker without
 * `"experimental": true`, a runtime without checkpoint support, or a kernel feature missing all
 * show up here as a failure with Docker's own words.
 */
export async function probeCheckpointing(options: CheckpointProbeOptions): Promise<CheckpointSupport> {
  const { docker, logger } = options;
  const sandboxId = `${CHECKPOINT_PROBE_PREFIX}${Date.now().toString(36)}`;
  let container: Docker.Container | undefined;
  const startedAt = performance.now();
  try {
    container = await docker.createContainer({
      name: `code-sandbox-${sandboxId}`,
      Image: options.image,
      Cmd: ['sh', '-c', 'while :; do sleep 1; done'],
      User: '65534:65534',
      Labels: sandboxLabels(options.instanceId, sandboxId, Date.now() + PROBE_EXPIRY_MS),
      NetworkDisabled: true,
      HostConfig: {
        Runtime: options.runtime,
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Memory: PROBE_MEMORY_BYTES,
        MemorySwap: PROBE_MEMORY_BYTES,
        LogConfig: { Type: 'none', Config: {} },
      },
    });
    await container.start();
    await checkpointContainer(container);
    // Docker records the stop a moment after the checkpoint call returns.
    await withinMs(container.wait(), 10_000);
    if ((await container.inspect()).State.Running)
      throw new Error('the container still ran after its checkpoint');
    await restoreWithoutLeftovers(container, {
      dockerRoot: await readableDockerRoot(docker),
      stagingDir: options.checkpointStagingDir,
    });
    if (!(await container.inspect()).State.Running)
      throw new Error('the container did not run after its restore');
    const ms = Math.round(performance.now() - startedAt);
    return {
      works: true,
      detail: `checkpoint and restore of a ${options.runtime} sandbox worked (${ms} ms)`,
    };
  } catch (error) {
    return { works: false, detail: dockerMessage(error) };
  } finally {
    if (container) await removeContainer(container, logger);
  }
}
