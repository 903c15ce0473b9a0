import type { ContainerCreateOptions } from 'dockerode';
import type { Language } from '../../domain/languages.js';
import type { Limits } from '../../domain/limits.js';
import { SANDBOX_PROTOCOL } from '../protocol/sandbox-protocol.js';
import { buildContainerSpec, SANDBOX_RUNTIME_DIR } from './container-spec.js';

/** The install sandbox's PID 1 per language (sandbox-runtime/python/package_install.py, node/package-install.js). */
export const INSTALLER_COMMANDS: Readonly<Record<Language, readonly string[]>> = Object.freeze({
  python: ['python3', '-I', '-S', `${SANDBOX_RUNTIME_DIR}/python/package_install.py`],
  nodejs: ['node', `${SANDBOX_RUNTIME_DIR}/node/package-install.js`],
});

export interface InstallerSpecInput {
  installId: string;
  instanceId: string;
  language: Language;
  image: string;
  runtime: string;
  limits: Limits;
  scratchBytes: number;
  /** Most bytes the installed packages may take: the size of the stage tmpfs. */
  maxInstalledBytes: number;
  /** Host directory with the mirror's socket and the install manifest (mounted read-only). */
  installHostDir: string;
  /** Host directory receiving the installed packages (the only writable bind mount). */
  outHostDir: string;
  runtimeHostDir: string;
  expiresAtMs: number;
  seccompProfile: string | undefined;
}

/**
 * The create options of an install sandbox: a one-shot sandbox's spec (runsc, no network, read-only
 * root, no capabilities, the sandbox user, the request's memory/CPU/process limits, labels for the
 * reaper), with the install mounts instead of the job directory and no stdin. Pure.
 */
export function buildInstallerSpec(input: InstallerSpecInput): ContainerCreateOptions {
  const { packages } = SANDBOX_PROTOCOL;
  const base = buildContainerSpec({
    sandboxId: input.installId,
    instanceId: input.instanceId,
    image: input.image,
    runtime: input.runtime,
    launcherCommand: [...INSTALLER_COMMANDS[input.language]],
    limits: input.limits,
    scratchBytes: input.scratchBytes,
    jobHostDir: input.installHostDir,
    runtimeHostDir: input.runtimeHostDir,
    expiresAtMs: input.expiresAtMs,
    seccompProfile: input.seccompProfile,
  });
  const host = base.HostConfig!;
  return {
    ...base,
    AttachStdin: false,
    OpenStdin: false,
    StdinOnce: false,
    HostConfig: {
      ...host,
      Tmpfs: {
        ...host.Tmpfs,
        [packages.stage_dir]: `rw,nosuid,nodev,size=${input.maxInstalledBytes},mode=1777`,
      },
      Binds: [
        `${input.installHostDir}:${packages.install_dir}:ro`,
        `${input.runtimeHostDir}:${SANDBOX_RUNTIME_DIR}:ro`,
        `${input.outHostDir}:${packages.out_dir}:rw`,
      ],
    },
  };
}
