import type { ContainerCreateOptions } from 'dockerode';
import type { ContainerSpecInput } from '../engine/sandbox-spec.js';
import { SANDBOX_PROTOCOL } from '../protocol/sandbox-protocol.js';
import { sandboxLabels } from './sandbox-labels.js';

/** Paths inside every sandbox; the launchers rely on them. */
export const SANDBOX_JOB_DIR = '/sandbox/job';
export const SANDBOX_RUNTIME_DIR = '/sandbox/runtime';
export const SANDBOX_WORK_DIR = '/work';
const { kernel_user: kernelUser } = SANDBOX_PROTOCOL.session;
/**
 * "nobody" (protocol.json session.kernel_user): owns nothing in the image, so it cannot modify anything
 * there even if it were writable. Every one-shot program and every session kernel runs as this user.
 */
export const SANDBOX_USER = `${kernelUser.uid}:${kernelUser.gid}`;
/**
 * A session container's launcher starts as uid 0 with CAP_SETUID and CAP_SETGID only, acts as
 * SANDBOX_USER from its first line, and starts its kernel as SANDBOX_USER without capabilities. Under
 * gVisor a process can reopen any same-uid process's descriptors through /proc/PID/fd (PR_SET_DUMPABLE
 * does not stop it; measured, see docs/security.md): a kernel running as the launcher's uid
 * could read the host's commands on the launcher's stdin and answer them on its stdout. A root-owned
 * launcher's descriptors are refused to it (EACCES). One-shot programs cannot use that path (their
 * run's nonce is consumed before they start and never reachable), so one-shot containers start as
 * SANDBOX_USER and hold no capability at all.
 */
export const SESSION_LAUNCHER_USER = '0:0';
export const SESSION_LAUNCHER_CAPABILITIES: readonly string[] = Object.freeze(['SETUID', 'SETGID']);

/**
 * Docker counts the sandbox's host threads against PidsLimit, and gVisor uses several host threads per
 * guest process; when the host limit is hit the whole sandbox dies instead of fork() failing. So the
 * per-program cap is RLIMIT_NPROC (enforced inside gVisor: fork() returns EAGAIN), and PidsLimit is a
 * host-side backstop set well above what that many guest processes need.
 */
export function hostPidsLimit(maxProcesses: number): number {
  return 256 + 8 * maxProcesses;
}

/** Builds the create options of one sandbox container. Pure: same input, same spec. */
export function buildContainerSpec(input: ContainerSpecInput): ContainerCreateOptions {
  const { limits } = input;
  const tmpfsOptions = `rw,nosuid,nodev,size=${input.scratchBytes},mode=1777`;
  return {
    name: `code-sandbox-${input.sandboxId}`,
    Image: input.image,
    Cmd: input.launcherCommand,
    WorkingDir: SANDBOX_WORK_DIR,
    User: input.session ? SESSION_LAUNCHER_USER : SANDBOX_USER,
    Env: ['HOME=/tmp', 'LANG=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin'],
    Labels: sandboxLabels(input.instanceId, input.sandboxId, input.expiresAtMs),
    // stdin carries only the launcher's start signal; user stdin is a file in the job dir.
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    NetworkDisabled: true,
    HostConfig: {
      Runtime: input.runtime,
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      ...(input.session ? { CapAdd: [...SESSION_LAUNCHER_CAPABILITIES] } : {}),
      // Docker's API takes the profile's JSON itself after "seccomp=" (the CLI reads it from a file).
      SecurityOpt: [
        'no-new-privileges',
        ...(input.seccompProfile === undefined ? [] : [`seccomp=${input.seccompProfile}`]),
      ],
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      NanoCpus: limits.cpuMillicores * 1_000_000,
      PidsLimit: hostPidsLimit(limits.maxProcesses),
      Ulimits: [
        { Name: 'nproc', Soft: limits.maxProcesses, Hard: limits.maxProcesses },
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      Tmpfs: { [SANDBOX_WORK_DIR]: tmpfsOptions, '/tmp': tmpfsOptions },
      // A private IPC namespace with a /dev/shm as small as the other tmpfs mounts. Without one
      // (IpcMode none) POSIX semaphores fail with EACCES, which breaks Python's multiprocessing
      // (Lock, Pool, ProcessPoolExecutor) and keeps a Jupyter kernel from starting at 256 MiB.
      IpcMode: 'private',
      ShmSize: input.scratchBytes,
      Binds: [
        `${input.jobHostDir}:${SANDBOX_JOB_DIR}:ro`,
        `${input.runtimeHostDir}:${SANDBOX_RUNTIME_DIR}:ro`,
      ],
      // Output reaches us over attach; a log driver would only copy untrusted output to the host disk.
      LogConfig: { Type: 'none', Config: {} },
      AutoRemove: false,
    },
  };
}
