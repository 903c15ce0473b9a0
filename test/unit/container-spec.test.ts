import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readSandboxImages } from '../../src/config/sandbox-images.js';
import { packageRoot } from '../../src/config/package-root.js';
import { buildContainerSpec, hostPidsLimit } from '../../src/sandbox/docker/container-spec.js';
import { loadSeccompProfile } from '../../src/sandbox/docker/seccomp-profile.js';

const input = {
  sandboxId: 'exec-1',
  instanceId: 'inst-1',
  image: readSandboxImages().python,
  runtime: 'runsc',
  launcherCommand: ['python3', '/sandbox/runtime/python/launcher.py'],
  limits: {
    timeoutMs: 5000,
    memoryBytes: 128 * 1024 * 1024,
    cpuMillicores: 500,
    maxProcesses: 32,
    outputBytes: 1000,
  },
  scratchBytes: 64 * 1024 * 1024,
  jobHostDir: '/srv/work/jobs/inst-1/exec-1',
  runtimeHostDir: '/srv/work/runtime-abc',
  expiresAtMs: 1_700_000_000_000,
  seccompProfile: undefined,
};

describe('buildContainerSpec', () => {
  it('builds the exact isolation HostConfig', () => {
    expect(buildContainerSpec(input).HostConfig).toEqual({
      Runtime: 'runsc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: 128 * 1024 * 1024,
      MemorySwap: 128 * 1024 * 1024,
      NanoCpus: 500_000_000,
      PidsLimit: hostPidsLimit(32),
      Ulimits: [
        { Name: 'nproc', Soft: 32, Hard: 32 },
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      Tmpfs: {
        '/work': 'rw,nosuid,nodev,size=67108864,mode=1777',
        '/tmp': 'rw,nosuid,nodev,size=67108864,mode=1777',
      },
      IpcMode: 'private',
      ShmSize: 67108864,
      Binds: ['/srv/work/jobs/inst-1/exec-1:/sandbox/job:ro', '/srv/work/runtime-abc:/sandbox/runtime:ro'],
      LogConfig: { Type: 'none', Config: {} },
      AutoRemove: false,
    });
  });

  it('adds the seccomp profile, as JSON text, to the security options when one is given', async () => {
    const profile = await loadSeccompProfile(join(packageRoot(), 'seccomp/sandbox-profile.json'));
    const spec = buildContainerSpec({ ...input, runtime: 'runsc-seccomp', seccompProfile: profile });
    expect(spec.HostConfig?.Runtime).toBe('runsc-seccomp');
    expect(spec.HostConfig?.SecurityOpt).toEqual(['no-new-privileges', `seccomp=${profile}`]);
    const parsed = JSON.parse(profile) as {
      defaultAction: string;
      syscalls: { names: string[]; action: string; args?: unknown[] }[];
    };
    const denied = parsed.syscalls
      .filter((rule) => rule.action === 'SCMP_ACT_ERRNO' && !rule.args)
      .flatMap((rule) => rule.names);
    expect(denied).toEqual(
      expect.arrayContaining(['ptrace', 'unshare', 'mount', 'bpf', 'keyctl', 'io_uring_setup']),
    );
    // Threads and processes must keep working: clone is refused only with namespace flags (an
    // argument filter), and clone3 is not listed (seccomp.test.ts shows both under runsc).
    expect(denied).not.toContain('clone');
    expect(parsed.syscalls.flatMap((rule) => rule.names)).not.toContain('clone3');
  });

  it('runs the launcher as nobody in /work, with labels for the reaper and stdin for the start signal', () => {
    const spec = buildContainerSpec(input);
    expect(spec).toMatchObject({
      name: 'code-sandbox-exec-1',
      Image: input.image,
      Cmd: input.launcherCommand,
      User: '65534:65534',
      WorkingDir: '/work',
      NetworkDisabled: true,
      OpenStdin: true,
      StdinOnce: true,
      Tty: false,
      Labels: {
        'code-sandbox.service': 'code-sandbox',
        'code-sandbox.instance': 'inst-1',
        'code-sandbox.sandbox': 'exec-1',
        'code-sandbox.expires-at': '1700000000000',
      },
    });
  });

  it('starts a session launcher as uid 0 with CAP_SETUID and CAP_SETGID only, everything else unchanged', () => {
    const oneShot = buildContainerSpec(input);
    const session = buildContainerSpec({ ...input, session: true });
    expect(oneShot.HostConfig?.CapAdd).toBeUndefined();
    expect(session.User).toBe('0:0');
    const { CapAdd, ...rest } = session.HostConfig!;
    expect(CapAdd).toEqual(['SETUID', 'SETGID']);
    expect(rest).toEqual(oneShot.HostConfig);
    expect({ ...session, User: oneShot.User, HostConfig: oneShot.HostConfig }).toEqual(oneShot);
  });

  it('sets the host pids backstop well above the in-sandbox process cap', () => {
    expect(hostPidsLimit(64)).toBeGreaterThan(64 * 5);
  });
});
