import Docker from 'dockerode';
import type { Config } from '../../src/config/config.js';
import { ContainerdApi } from '../../src/sandbox/containerd/containerd-api.js';
import { containerId, type OciSpec } from '../../src/sandbox/containerd/oci-spec.js';
import type { LabelledContainer } from '../../src/sandbox/engine/sandbox-container.js';

/** A live sandbox container as containerd holds it: its record's labels, runtime and OCI spec. */
export interface ContainerdRecord {
  labels: Record<string, string>;
  runtime: { name: string; options?: { type_url: string; value: Buffer } };
  spec: OciSpec;
}

/**
 * The sandbox containers of whichever engine a test app runs on (SANDBOX_BACKEND), as tests look at
 * them: by label, and inspected. Read straight from dockerd or containerd, never through the service.
 */
export interface TestContainers {
  /** Containers (any state) carrying `label=value`. */
  withLabel(label: string, value: string): Promise<LabelledContainer[]>;
  /** The engine's full view of one sandbox's container. */
  inspect(sandboxId: string): Promise<Docker.ContainerInspectInfo | ContainerdRecord>;
  /** Ends the connection (suites that look at containers after their app stopped keep it open). */
  close(): void;
}

export function testContainers(config: Config): TestContainers {
  if (config.backend === 'docker') {
    const docker = new Docker({ socketPath: config.dockerSocket });
    return {
      async withLabel(label, value) {
        const found = await docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
        return found.map((info) => ({ id: info.Id, labels: info.Labels }));
      },
      inspect: (sandboxId) => docker.getContainer(`code-sandbox-${sandboxId}`).inspect(),
      close: () => undefined,
    };
  }
  const api = new ContainerdApi(config.containerd.socket, config.containerd.namespace);
  return {
    async withLabel(label, value) {
      const { containers } = await api.call<{ containers: { id: string; labels: Record<string, string> }[] }>(
        'containers',
        'List',
        { filters: [`labels."${label}"==${value}`] },
      );
      return containers.map((container) => ({ id: container.id, labels: container.labels }));
    },
    async inspect(sandboxId) {
      const { container } = await api.call<{
        container: ContainerdRecord & { spec: { value: Buffer } };
      }>('containers', 'Get', { id: containerId(sandboxId) });
      return { ...container, spec: JSON.parse(container.spec.value.toString('utf8')) as OciSpec };
    },
    close: () => api.close(),
  };
}
