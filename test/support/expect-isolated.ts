import type Docker from 'dockerode';
import { expect } from 'vitest';
import type { Limits } from '../../src/domain/limits.js';
import {
  hostPidsLimit,
  SANDBOX_USER,
  SESSION_LAUNCHER_CAPABILITIES,
  SESSION_LAUNCHER_USER,
} from '../../src/sandbox/docker/container-spec.js';
import { LANGUAGE_RUNTIMES } from '../../src/sandbox/docker/language-runtimes.js';
import type { ContainerdRecord } from './test-containers.js';

/**
 * Asserts, on a live container's `inspect()`, every isolation setting a sandbox must have. A session
 * container (its command is a session launcher) starts as uid 0 with CAP_SETUID/CAP_SETGID only, to run
 * its kernel as the sandbox user; every other container starts as the sandbox user with no capability.
 */
export function expectIsolated(
  inspected: Docker.ContainerInspectInfo | ContainerdRecord,
  limits: Limits,
): void {
  if (!('HostConfig' in inspected)) {
    expectIsolatedOnContainerd(inspected, limits);
    return;
  }
  const host = inspected.HostConfig;
  expect(host.Runtime).toBe('runsc');
  expect(host.NetworkMode).toBe('none');
  expect(host.ReadonlyRootfs).toBe(true);
  expect(host.CapDrop).toEqual(['ALL']);
  const command = JSON.stringify(inspected.Config.Cmd);
  const session = Object.values(LANGUAGE_RUNTIMES).some(
    (runtime) => JSON.stringify(runtime.sessionLauncher) === command,
  );
  if (session) {
    expect(host.CapAdd).toEqual(SESSION_LAUNCHER_CAPABILITIES);
    expect(inspected.Config.User).toBe(SESSION_LAUNCHER_USER);
  } else {
    expect(host.CapAdd ?? []).toEqual([]);
    expect(inspected.Config.User).toBe(SANDBOX_USER);
  }
  expect(host.SecurityOpt).toEqual(['no-new-privileges']);
  expect(host.Memory).toBe(limits.memoryBytes);
  expect(host.MemorySwap).toBe(limits.memoryBytes);
  expect(host.NanoCpus).toBe(limits.cpuMillicores * 1_000_000);
  expect(host.PidsLimit).toBe(hostPidsLimit(limits.maxProcesses));
  expect(host.Ulimits).toContainEqual({
    Name: 'nproc',
    Soft: limits.maxProcesses,
    Hard: limits.maxProcesses,
  });
  expect(Object.keys(host.Tmpfs ?? {}).sort()).toEqual(['/tmp', '/work']);
  expect(host.IpcMode).toBe('private'); // its own /dev/shm, size-capped
  expect(host.ShmSize).toBeGreaterThan(0);
  expect(host.Binds?.length).toBe(2);
  expect(host.Binds?.every((bind) => bind.endsWith(':ro'))).toBe(true);
}

/** The container's labels, whichever engine inspected it. */
export function labelsOf(inspected: Docker.ContainerInspectInfo | ContainerdRecord): Record<string, string> {
  return 'HostConfig' in inspected ? inspected.Config.Labels : inspected.labels;
}

/**
 * The same settings as expectIsolated, in the OCI spec of a containerd container: runsc as the runc v2
 * shim's binary, a network namespace of its own (runsc --network=none), read-only root, no
 * capabilities, no_new_privileges, the sandbox user, memory without swap, CPU quota, pids and nproc
 * limits, tmpfs-only writable space, both bind mounts read-only.
 */
function expectIsolatedOnContainerd(record: ContainerdRecord, limits: Limits): void {
  const { spec } = record;
  expect(record.runtime.name).toBe('io.containerd.runc.v2');
  expect(record.runtime.options?.type_url).toBe('containerd.runc.v1.Options');
  expect(record.runtime.options?.value.toString('latin1')).toMatch(/\/runsc$/);
  expect(spec.linux.namespaces.map((namespace) => namespace.type).sort()).toEqual(
    ['ipc', 'mount', 'network', 'pid', 'uts'].sort(),
  );
  expect(spec.linux.namespaces.every((namespace) => !('path' in namespace))).toBe(true); // new, not joined
  expect(spec.root.readonly).toBe(true);
  expect(spec.process.noNewPrivileges).toBe(true);
  const session = Object.values(LANGUAGE_RUNTIMES).some(
    (runtime) => JSON.stringify(runtime.sessionLauncher) === JSON.stringify(spec.process.args),
  );
  const [uid, gid] = (session ? SESSION_LAUNCHER_USER : SANDBOX_USER).split(':').map(Number);
  expect(spec.process.user).toMatchObject({ uid, gid });
  const capabilities = session ? SESSION_LAUNCHER_CAPABILITIES.map((cap) => `CAP_${cap}`) : [];
  expect(spec.process.capabilities).toEqual({
    bounding: capabilities,
    effective: capabilities,
    inheritable: [],
    permitted: capabilities,
    ambient: [],
  });
  expect(spec.linux.seccomp).toBeUndefined();
  expect(spec.linux.resources.memory).toEqual({ limit: limits.memoryBytes, swap: limits.memoryBytes });
  expect(spec.linux.resources.cpu).toEqual({ quota: limits.cpuMillicores * 100, period: 100_000 });
  expect(spec.linux.resources.pids).toEqual({ limit: hostPidsLimit(limits.maxProcesses) });
  expect(spec.process.rlimits).toContainEqual({
    type: 'RLIMIT_NPROC',
    soft: limits.maxProcesses,
    hard: limits.maxProcesses,
  });
  const writable = spec.mounts.filter(
    (mount) => ['tmpfs', 'bind'].includes(mount.type) && !mount.options.includes('ro'),
  );
  expect(writable.map((mount) => mount.destination).sort()).toEqual(['/dev', '/dev/shm', '/tmp', '/work']);
  expect(
    writable.every((mount) => mount.type === 'tmpfs' && mount.options.some((o) => o.startsWith('size='))),
  ).toBe(true);
  const binds = spec.mounts.filter((mount) => mount.type === 'bind');
  expect(binds.length).toBe(2);
  expect(binds.every((mount) => mount.options.includes('ro'))).toBe(true);
}
