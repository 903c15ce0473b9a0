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

/**
 * Asserts, on a live container's `inspect()`, every isolation setting a sandbox must have. A session
 * container (its command is a session launcher) starts as uid 0 with CAP_SETUID/CAP_SETGID only, to run
 * its kernel as the sandbox user; every other container starts as the sandbox user with no capability.
 */
export function expectIsolated(inspected: Docker.ContainerInspectInfo, limits: Limits): void {
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
