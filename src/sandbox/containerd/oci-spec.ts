import {
  hostPidsLimit,
  SANDBOX_JOB_DIR,
  SANDBOX_RUNTIME_DIR,
  SANDBOX_USER,
  SANDBOX_WORK_DIR,
  SESSION_LAUNCHER_CAPABILITIES,
  SESSION_LAUNCHER_USER,
} from '../docker/container-spec.js';
import type { ContainerSpecInput } from '../engine/sandbox-spec.js';

/** The parts of an OCI runtime spec (runtime-spec 1.0) this service sets. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient', string[]>;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    resources: {
      devices: { allow: boolean; access: string }[];
      memory: { limit: number; swap: number };
      cpu: { quota: number; period: number };
      pids: { limit: number };
    };
    cgroupsPath: string;
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: unknown;
  };
}

/** CFS period for the CPU quota: Docker's, so NanoCpus and this quota mean the same share. */
const CPU_PERIOD_US = 100_000;

// What Docker masks and makes read-only in every container (moby's oci/defaults.go), so a sandbox
// sees no more of /proc and /sys under containerd than under dockerd.
const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function ids(user: string): { uid: number; gid: number } {
  const [uid, gid] = user.split(':').map(Number);
  return { uid: uid!, gid: gid! };
}

/**
 * The OCI runtime spec of one sandbox on containerd: the same isolation buildContainerSpec gives a
 * Docker container, spelled the way runc/runsc read it. Read-only root; writable space only on
 * size-capped tmpfs (/work, /tmp, /dev/shm); the job and launcher directories bound read-only; a new
 * network namespace with nothing in it (runsc runs with --network=none); no capabilities (a session
 * launcher: SETUID and SETGID only), no_new_privileges, the sandbox user; memory (no swap), CPU and
 * pids limits; RLIMIT_NPROC and no core dumps. Pure.
 *
 * @param seccomp the profile in OCI form (see ociSeccomp), or undefined for the runtime's default.
 */
export function buildOciSpec(input: ContainerSpecInput, namespace: string, seccomp?: unknown): OciSpec {
  const { limits } = input;
  const capabilities = input.session ? SESSION_LAUNCHER_CAPABILITIES.map((cap) => `CAP_${cap}`) : [];
  const tmpfs = (destination: string) => ({
    destination,
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', `size=${input.scratchBytes}`, 'mode=1777'],
  });
  const readOnlyBind = (source: string, destination: string) => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', 'ro', 'nosuid', 'nodev'],
  });
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: ids(input.session ? SESSION_LAUNCHER_USER : SANDBOX_USER),
      args: input.launcherCommand,
      env: ['HOME=/tmp', 'LANG=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin'],
      cwd: SANDBOX_WORK_DIR,
      capabilities: {
        bounding: capabilities,
        effective: capabilities,
        inheritable: [],
        permitted: capabilities,
        ambient: [],
      },
      rlimits: [
        { type: 'RLIMIT_NPROC', hard: limits.maxProcesses, soft: limits.maxProcesses },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
        { type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 },
      ],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'sandbox',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      // A private IPC namespace with a /dev/shm as small as the other tmpfs mounts (see container-spec.ts).
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${input.scratchBytes}`],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      tmpfs(SANDBOX_WORK_DIR),
      tmpfs('/tmp'),
      readOnlyBind(input.jobHostDir, SANDBOX_JOB_DIR),
      readOnlyBind(input.runtimeHostDir, SANDBOX_RUNTIME_DIR),
    ],
    linux: {
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: limits.memoryBytes, swap: limits.memoryBytes },
        cpu: { quota: (limits.cpuMillicores * CPU_PERIOD_US) / 1000, period: CPU_PERIOD_US },
        pids: { limit: hostPidsLimit(limits.maxProcesses) },
      },
      // containerd's own convention (/<namespace>/<id>), as `ctr run` uses it.
      cgroupsPath: `/${namespace}/${containerId(input.sandboxId)}`,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      ...(seccomp === undefined ? {} : { seccomp }),
    },
  };
}

/** The containerd container id (and snapshot key) of a sandbox: the name Docker containers get. */
export function containerId(sandboxId: string): string {
  return `code-sandbox-${sandboxId}`;
}

/**
 * A seccomp profile as loadSeccompProfile returns it (Docker's JSON: defaultAction, architectures,
 * syscalls with names/action/errnoRet/args, the fields OCI's linux.seccomp has too) in OCI form: the
 * same object without its `comment` fields, which the OCI schema does not have.
 */
export function ociSeccomp(profileJson: string): unknown {
  return JSON.parse(profileJson, (key, value: unknown) => (key === 'comment' ? undefined : value));
}
