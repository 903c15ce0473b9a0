import type { ContainerExit } from '../protocol/sandbox-session.js';

/**
 * One created sandbox container as the lifecycle sees it, whichever engine runs it (dockerd or
 * containerd). Every method is safe to call on a container that is already gone.
 */
export interface SandboxContainer {
  /** The engine's id for the container (for logs). */
  readonly id: string;
  /** Sends SIGKILL to everything in the container; resolves once the signal is sent. */
  kill(): Promise<void>;
  /** Resolves once the container has stopped (at once if it already has). */
  stopped(): Promise<void>;
  /** Resolves once the container has exited by itself, with its exit status and whether it was OOM-killed. */
  exit(): Promise<ContainerExit>;
  /**
   * Removes the container and everything the engine keeps for it, killing it first if it still runs.
   * Never throws: a container that cannot be removed is logged and counted, and left to the reaper.
   */
  remove(): Promise<void>;
}

/** A sandbox container as a reaper lists it: its id and labels (see sandbox-labels.ts). */
export interface LabelledContainer {
  id: string;
  labels: Readonly<Record<string, string>>;
}

/** What a reaper needs of an engine: this service's containers (any owner, any state), and removal. */
export interface SandboxInventory {
  /** Every container carrying the service label, whoever's it is. */
  list(): Promise<LabelledContainer[]>;
  /** Like SandboxContainer.remove: never throws. */
  remove(id: string): Promise<void>;
}
