import { describe, expect, it } from 'vitest';
import { buildInstallerSpec } from '../../src/sandbox/docker/installer-spec.js';

const spec = buildInstallerSpec({
  installId: 'install-1',
  instanceId: 'unit',
  language: 'python',
  image: 'code-sandbox-python:missing',
  runtime: 'runsc',
  limits: {
    timeoutMs: 5000,
    memoryBytes: 256 << 20,
    cpuMillicores: 1000,
    maxProcesses: 64,
    outputBytes: 1024,
  },
  scratchBytes: 64 << 20,
  maxInstalledBytes: 32 << 20,
  installHostDir: '/work/jobs/unit/install-1',
  outHostDir: '/work/jobs/unit/install-1.out',
  runtimeHostDir: '/work/runtime-abc',
  expiresAtMs: 1,
  seccompProfile: undefined,
});

describe('buildInstallerSpec (the install sandbox)', () => {
  it("keeps every isolation setting of a program's sandbox", () => {
    expect(spec.User).toBe('65534:65534');
    expect(spec.NetworkDisabled).toBe(true);
    expect(spec.HostConfig).toMatchObject({
      Runtime: 'runsc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: 256 << 20,
      MemorySwap: 256 << 20,
    });
    expect(spec.HostConfig?.CapAdd).toBeUndefined();
  });

  it('mounts the mirror socket directory and the runtime read-only, and only the result directory writable', () => {
    expect(spec.HostConfig?.Binds).toEqual([
      '/work/jobs/unit/install-1:/sandbox/install:ro',
      '/work/runtime-abc:/sandbox/runtime:ro',
      '/work/jobs/unit/install-1.out:/sandbox/out:rw',
    ]);
    expect(spec.HostConfig?.Tmpfs?.['/sandbox/stage']).toBe(`rw,nosuid,nodev,size=${32 << 20},mode=1777`);
  });

  it('runs the installer as PID 1, without stdin', () => {
    expect(spec.Cmd).toEqual(['python3', '-I', '-S', '/sandbox/runtime/python/package_install.py']);
    expect(spec.OpenStdin).toBe(false);
    expect(spec.Labels?.['code-sandbox.sandbox']).toBe('install-1');
  });
});
