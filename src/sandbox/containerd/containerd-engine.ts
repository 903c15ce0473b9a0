import { access, constants, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { UnavailableError } from '../../errors/service-error.js';
import type { ReadinessCheck } from '../../execution/sandbox-runner.js';
import type { ContainerSpecInput } from '../engine/sandbox-spec.js';
import type { DockerErrorListener } from '../docker/docker-errors.js';
import { LABEL_SERVICE, sandboxLabels, SERVICE_LABEL_VALUE } from '../docker/sandbox-labels.js';
import type { LabelledContainer } from '../engine/sandbox-container.js';
import type { EngineReadinessOptions, LaunchedContainer, SandboxEngine } from '../engine/sandbox-engine.js';
import { ContainerdApi, GRPC_NOT_FOUND, GRPC_UNAVAILABLE, grpcCode } from './containerd-api.js';
import { ContainerdSandboxContainer } from './containerd-sandbox-container.js';
import { containerdImageName, ImageRootfs } from './image-rootfs.js';
import { buildOciSpec, containerId, ociSeccomp } from './oci-spec.js';
import { OomWatch } from './oom-watch.js';
import { encodeRuncOptions, RUNC_OPTIONS_TYPE_URL } from './runc-options.js';
import { StdioFifos } from './stdio-fifos.js';

/** The runc v2 shim: with BinaryName runsc it runs gVisor sandboxes (what GKE Sandbox nodes do). */
const RUNC_V2_SHIM = 'io.containerd.runc.v2';
const SNAPSHOTTER = 'overlayfs';
const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const SIGKILL = 9;
/** How long a removal waits for a killed task to stop before deleting it regardless. */
const KILL_WAIT_MS = 10_000;
const CHECK_DEADLINE_MS = 3000;

export interface ContainerdEngineOptions {
  /** containerd's gRPC socket. */
  socket: string;
  /** The containerd namespace of this service's images and containers. */
  namespace: string;
  /** Directory of the runtime wrappers: `<runtimeDir>/<SANDBOX_RUNTIME>` is the shim's BinaryName. */
  runtimeDir: string;
  /** Private directory (0700) for each container's stdio FIFOs. */
  fifoRoot: string;
  onDockerError?: DockerErrorListener;
  logger: Logger;
}

/**
 * Sandboxes on containerd through its own gRPC API (SANDBOX_BACKEND=containerd), without dockerd:
 * per sandbox a container record (OCI spec built by buildOciSpec, runc v2 shim with runsc as its
 * binary), a snapshot prepared from the image's unpacked layers, and a task whose stdio are FIFOs.
 */
export class ContainerdEngine implements SandboxEngine {
  readonly name = 'containerd';
  private readonly api: ContainerdApi;
  private readonly rootfs: ImageRootfs;
  private readonly oom: OomWatch;

  constructor(private readonly options: ContainerdEngineOptions) {
    this.api = new ContainerdApi(options.socket, options.namespace);
    this.rootfs = new ImageRootfs(this.api);
    this.oom = new OomWatch(this.api, options.logger);
    this.oom.start();
  }

  async launch(input: ContainerSpecInput): Promise<LaunchedContainer> {
    const { api } = this;
    const id = containerId(input.sandboxId);
    const chain = await this.rootfs.chainIdOf(input.image).catch((error: unknown) => {
      throw grpcCode(error) === GRPC_NOT_FOUND
        ? new UnavailableError(
            `sandbox image "${input.image}" is not present in containerd namespace ${this.options.namespace}; import it with "npm run setup"`,
            { cause: error },
          )
        : this.startError(error);
    });
    const runtimeOptions = this.runtimeOptions(input.runtime);
    const spec = buildOciSpec(
      input,
      this.options.namespace,
      input.seccompProfile === undefined ? undefined : ociSeccomp(input.seccompProfile),
    );
    const fifos = await StdioFifos.create(join(this.options.fifoRoot, id));
    try {
      // The container record first: from then on the snapshot is referenced (safe from containerd's
      // garbage collector), and the reaper finds everything by the record's labels.
      await api.call('containers', 'Create', {
        container: {
          id,
          labels: sandboxLabels(input.instanceId, input.sandboxId, input.expiresAtMs),
          image: containerdImageName(input.image),
          runtime: { name: RUNC_V2_SHIM, ...(runtimeOptions ? { options: runtimeOptions } : {}) },
          spec: { type_url: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) },
          snapshotter: SNAPSHOTTER,
          snapshot_key: id,
        },
      });
      const { mounts } = await api.call<{ mounts: unknown[] }>('snapshots', 'Prepare', {
        snapshotter: SNAPSHOTTER,
        key: id,
        parent: chain,
      });
      await api.call('tasks', 'Create', {
        container_id: id,
        rootfs: mounts,
        stdin: fifos.stdin,
        stdout: fifos.stdout,
        stderr: fifos.stderr,
        terminal: false,
        ...(runtimeOptions ? { options: runtimeOptions } : {}),
      });
      await fifos.release();
      const container = new ContainerdSandboxContainer(id, api, this.oom, async () => {
        await this.remove(id);
        await fifos.remove();
      });
      container.watchExit();
      await api.call('tasks', 'Start', { container_id: id });
      return { container, stream: fifos.stream };
    } catch (error) {
      await this.remove(id);
      await fifos.remove();
      // The image may have been re-imported (a new chain id) or removed: look it up afresh next time.
      if (grpcCode(error) === GRPC_NOT_FOUND) this.rootfs.forget(input.image);
      throw this.startError(error);
    }
  }

  async list(): Promise<LabelledContainer[]> {
    const { containers } = await this.api.call<{
      containers: { id: string; labels: Record<string, string> }[];
    }>('containers', 'List', { filters: [`labels."${LABEL_SERVICE}"==${SERVICE_LABEL_VALUE}`] });
    return containers.map((container) => ({ id: container.id, labels: container.labels }));
  }

  /**
   * Kills the task (if any), waits for it to stop, deletes it, then the container record and its
   * snapshot. Each step tolerates what is already gone. Never throws.
   */
  async remove(id: string): Promise<void> {
    const { api, options } = this;
    const tolerate = (step: string) => (error: unknown) => {
      if (grpcCode(error) === GRPC_NOT_FOUND) return;
      options.logger.warn({ containerId: id, step, err: error }, 'containerd removal step failed');
      throw error;
    };
    try {
      const task = await api
        .call<{ process?: { status?: string } }>('tasks', 'Get', { container_id: id })
        .catch(tolerate('get task'));
      if (task) {
        // A task that exited by itself needs no kill (measured: a kill of a stopped runsc task still
        // costs ~40 ms of shim and runsc work).
        if (task.process?.status !== 'STOPPED') {
          await api
            .call('tasks', 'Kill', { container_id: id, signal: SIGKILL, all: true })
            .catch(() => undefined);
          await api.call('tasks', 'Wait', { container_id: id }, KILL_WAIT_MS).catch(() => undefined);
        }
        await api.call('tasks', 'Delete', { container_id: id }).catch(tolerate('delete task'));
      }
      await api.call('containers', 'Delete', { id }).catch(tolerate('delete container'));
      await api
        .call('snapshots', 'Remove', { snapshotter: SNAPSHOTTER, key: id })
        .catch(tolerate('remove snapshot'));
    } catch {
      options.onDockerError?.('remove');
    }
  }

  async readiness({ images, runtime, egress }: EngineReadinessOptions): Promise<ReadinessCheck[]> {
    const { socket, namespace } = this.options;
    let version: string;
    try {
      ({ version } = await this.api.call<{ version: string }>('version', 'Version', {}, CHECK_DEADLINE_MS));
    } catch (error) {
      return [
        {
          name: 'containerd',
          ok: false,
          detail: `not reachable at ${socket}: ${(error as Error).message} (is containerd running? npm run setup starts one)`,
        },
      ];
    }
    const checks: ReadinessCheck[] = [
      { name: 'containerd', ok: true, detail: `reachable (${version}), namespace ${namespace}` },
      ...(await this.runtimeChecks(runtime, egress)),
    ];
    for (const [language, image] of Object.entries(images)) {
      checks.push(await this.imageCheck(language, image));
    }
    return checks;
  }

  close(): void {
    this.oom.close();
    this.api.close();
  }

  /** runc's options naming the runtime wrapper as the shim's binary; none for plain runc. */
  private runtimeOptions(runtime: string): { type_url: string; value: Buffer } | undefined {
    if (runtime === 'runc') return undefined;
    return {
      type_url: RUNC_OPTIONS_TYPE_URL,
      value: encodeRuncOptions(join(this.options.runtimeDir, runtime), this.api.runcBinaryNameField),
    };
  }

  private async runtimeChecks(runtime: string, egress: boolean): Promise<ReadinessCheck[]> {
    if (runtime === 'runc') return [{ name: 'runtime', ok: true, detail: 'runc (the shim default)' }];
    const wrapper = join(this.options.runtimeDir, runtime);
    const executable = await access(wrapper, constants.X_OK).then(
      () => true,
      () => false,
    );
    const checks: ReadinessCheck[] = [
      {
        name: 'runtime',
        ok: executable,
        detail: executable
          ? `${runtime} (${wrapper}, through ${RUNC_V2_SHIM})`
          : `${wrapper} is missing or not executable: npm run setup writes it (scripts/configure-containerd.mjs)`,
      },
    ];
    if (executable && egress) {
      const ok = /--?host-uds=(open|all)\b/.test(await readFile(wrapper, 'utf8'));
      checks.push({
        name: 'egress',
        ok,
        detail: ok
          ? `${runtime} lets sandboxes reach their egress proxy socket (--host-uds)`
          : `egress is enabled but ${wrapper} does not pass --host-uds=open to runsc (npm run setup writes it)`,
      });
    }
    return checks;
  }

  private async imageCheck(language: string, image: string): Promise<ReadinessCheck> {
    try {
      const chain = await this.rootfs.chainIdOf(image);
      await this.api.call('snapshots', 'Stat', { snapshotter: SNAPSHOTTER, key: chain }, CHECK_DEADLINE_MS);
      return { name: `image:${language}`, ok: true, detail: `${containerdImageName(image)} (unpacked)` };
    } catch (error) {
      this.rootfs.forget(image);
      return {
        name: `image:${language}`,
        ok: false,
        detail: `${containerdImageName(image)} is not imported and unpacked in containerd namespace ${this.options.namespace}: ${(error as Error).message} (npm run setup imports it)`,
      };
    }
  }

  private startError(error: unknown): UnavailableError {
    if (grpcCode(error) === GRPC_UNAVAILABLE) {
      return new UnavailableError(
        `containerd is not reachable at ${this.options.socket}; is containerd running?`,
        { cause: error },
      );
    }
    const message = (error as { details?: string }).details ?? (error as Error).message ?? String(error);
    return new UnavailableError(`the sandbox could not be started: ${message}`, { cause: error });
  }
}
