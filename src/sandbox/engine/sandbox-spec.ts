import type { Limits } from '../../domain/limits.js';

/**
 * What one sandbox container is made of, whichever engine creates it: each engine turns this into its
 * own spec with the same isolation (docker/container-spec.ts, containerd/oci-spec.ts).
 */
export interface ContainerSpecInput {
  sandboxId: string;
  instanceId: string;
  image: string;
  runtime: string;
  launcherCommand: string[];
  limits: Limits;
  /** Size of each tmpfs (/work and /tmp). */
  scratchBytes: number;
  /** Host directory for the job's code and input files (mounted read-only; may be filled after start). */
  jobHostDir: string;
  /** Host directory with the launcher scripts (mounted read-only). */
  runtimeHostDir: string;
  expiresAtMs: number;
  /** A seccomp profile (Docker's JSON format) to apply, or undefined for the runtime's default. */
  seccompProfile: string | undefined;
  /** A session container: its launcher starts as SESSION_LAUNCHER_USER to run its kernel as SANDBOX_USER. */
  session?: boolean;
}
