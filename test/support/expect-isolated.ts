import type Docker from 'dockerode';
import { expect } from 'vitest';
import type { Limits } from '../../src/domain/limits.js';
import { hostPidsLimit } from '../../src/sandbox/container-spec.js';

/** Asserts, on a live container's `inspect()`, every isolation setting a sandbox must have. */
export function expectIsolated(inspected: Docker.ContainerInspectInfo, limits: Limits): void {
  const host = inspected.HostConfig;
  expect(host.Runtime).toBe('runsc');
  expect(host.NetworkMode).toBe('none');
  expect(host.ReadonlyRootfs).toBe(true);
  expect(host.CapDrop).toEqual(['ALL']);
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
  expect(inspected.Config.User).toBe('65534:65534');
}
