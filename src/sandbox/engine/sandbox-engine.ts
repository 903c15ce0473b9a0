import type { Duplex } from 'node:stream';
import type { Language } from '../../domain/languages.js';
import type { ReadinessCheck } from '../../execution/sandbox-runner.js';
import type { ContainerSpecInput } from './sandbox-spec.js';
import type { SandboxContainer, SandboxInventory } from './sandbox-container.js';

/** A created and started container, with its stdio. */
export interface LaunchedContainer {
  container: SandboxContainer;
  /**
   * stdin one way; stdout and stderr the other, in Docker's attach framing (8-byte headers, type 1
   * stdout, 2 stderr), so one session protocol reads every engine. Attached before the container
   * started: nothing the launcher writes is missed.
   */
  stream: Duplex;
}

/** What the engine must provide for this configuration. */
export interface EngineReadinessOptions {
  images: Readonly<Record<Language, string>>;
  runtime: string;
  /** Egress is on: sandboxes must be able to connect to their proxy's unix socket. */
  egress: boolean;
}

/**
 * The container engine sandboxes run on (SANDBOX_BACKEND): dockerd through its API, or containerd
 * through its own gRPC API. Everything above it (factory, pools, teardown, reaper, runner) is the same
 * for both; each engine gives every container the same isolation from the same ContainerSpecInput.
 */
export interface SandboxEngine extends SandboxInventory {
  /** Engine name for logs and readiness details. */
  readonly name: 'docker' | 'containerd';
  /**
   * Creates and starts one container. Rejects with an UnavailableError saying what an operator must
   * fix; nothing is left behind then.
   */
  launch(spec: ContainerSpecInput): Promise<LaunchedContainer>;
  /**
   * What the host must provide before any sandbox can start (engine reachable, runtime, images), as
   * /readyz, grpc.health.v1 and the start-up preflight report it.
   */
  readiness(options: EngineReadinessOptions): Promise<ReadinessCheck[]>;
  /** Releases the engine's connections (after the last removal). */
  close(): void;
}
