import { readFileSync } from 'node:fs';
import { loadSync } from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { chainId, containerdImageName } from '../../src/sandbox/containerd/image-rootfs.js';
import { buildOciSpec, containerId, ociSeccomp } from '../../src/sandbox/containerd/oci-spec.js';
import { encodeRuncOptions, firstStringField } from '../../src/sandbox/containerd/runc-options.js';
import { buildContainerSpec } from '../../src/sandbox/docker/container-spec.js';
import type { ContainerSpecInput } from '../../src/sandbox/engine/sandbox-spec.js';

const input: ContainerSpecInput = {
  sandboxId: 'abc',
  instanceId: 'inst',
  image: 'code-sandbox-python:missing',
  runtime: 'runsc',
  launcherCommand: ['python3', '/sandbox/runtime/python/launcher.py', ''],
  limits: {
    timeoutMs: 10_000,
    memoryBytes: 256 * 1024 * 1024,
    cpuMillicores: 500,
    maxProcesses: 64,
    outputBytes: 1024,
  },
  scratchBytes: 64 * 1024 * 1024,
  jobHostDir: '/work/jobs/inst/abc',
  runtimeHostDir: '/work/runtime-x',
  expiresAtMs: 123,
  seccompProfile: undefined,
};

describe('the OCI spec of a containerd sandbox', () => {
  it('gives the same isolation as the Docker container spec of the same input', () => {
    const docker = buildContainerSpec(input).HostConfig!;
    const spec = buildOciSpec(input, 'code-sandbox');
    expect(spec.root).toEqual({ path: 'rootfs', readonly: docker.ReadonlyRootfs });
    expect(spec.process.noNewPrivileges).toBe(docker.SecurityOpt?.includes('no-new-privileges'));
    expect(`${spec.process.user.uid}:${spec.process.user.gid}`).toBe(buildContainerSpec(input).User);
    expect(Object.values(spec.process.capabilities).flat()).toEqual([]);
    expect(spec.linux.resources.memory).toEqual({ limit: docker.Memory, swap: docker.MemorySwap });
    // Docker turns NanoCpus into a CFS quota over a 100 ms period.
    expect((spec.linux.resources.cpu.quota / spec.linux.resources.cpu.period) * 1e9).toBe(docker.NanoCpus);
    expect(spec.linux.resources.pids.limit).toBe(docker.PidsLimit);
    expect(spec.process.rlimits).toContainEqual({ type: 'RLIMIT_NPROC', soft: 64, hard: 64 });
    expect(spec.process.rlimits).toContainEqual({ type: 'RLIMIT_CORE', soft: 0, hard: 0 });
    expect(spec.process.args).toEqual(buildContainerSpec(input).Cmd);
    expect(spec.process.env).toEqual(buildContainerSpec(input).Env);
    expect(spec.process.cwd).toBe(buildContainerSpec(input).WorkingDir);
    // A network namespace of its own with nothing in it, as NetworkMode "none".
    expect(spec.linux.namespaces).toContainEqual({ type: 'network' });
    expect(spec.linux.namespaces).toContainEqual({ type: 'ipc' });
    for (const [path, options] of Object.entries(docker.Tmpfs!)) {
      const mount = spec.mounts.find((m) => m.destination === path);
      expect(mount?.type).toBe('tmpfs');
      expect(mount?.options).toContain(options.match(/size=\d+/)![0]);
    }
    expect(spec.mounts.find((m) => m.destination === '/dev/shm')?.options).toContain(
      `size=${docker.ShmSize}`,
    );
    const binds = spec.mounts.filter((m) => m.type === 'bind').map((m) => `${m.source}:${m.destination}:ro`);
    expect(binds.sort()).toEqual([...docker.Binds!].sort());
    expect(spec.mounts.filter((m) => m.type === 'bind').every((m) => m.options.includes('ro'))).toBe(true);
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.linux.cgroupsPath).toBe(`/code-sandbox/${containerId('abc')}`);
  });

  it('a session launcher starts as root with SETUID and SETGID only', () => {
    const spec = buildOciSpec({ ...input, session: true }, 'code-sandbox');
    expect(spec.process.user).toEqual({ uid: 0, gid: 0 });
    expect(spec.process.capabilities.bounding).toEqual(['CAP_SETUID', 'CAP_SETGID']);
    expect(spec.process.capabilities.inheritable).toEqual([]);
    expect(spec.process.capabilities.ambient).toEqual([]);
  });

  it('carries the seccomp profile in OCI form (comments dropped, rules kept)', () => {
    const profile = readFileSync('seccomp/sandbox-profile.json', 'utf8');
    const seccomp = ociSeccomp(JSON.stringify(JSON.parse(profile))) as {
      defaultAction: string;
      syscalls: Record<string, unknown>[];
    };
    const original = JSON.parse(profile) as { defaultAction: string; syscalls: unknown[] };
    expect(seccomp.defaultAction).toBe(original.defaultAction);
    expect(seccomp.syscalls.length).toBe(original.syscalls.length);
    expect(JSON.stringify(seccomp)).not.toContain('"comment"');
    expect(buildOciSpec(input, 'ns', seccomp).linux.seccomp).toBe(seccomp);
  });
});

describe('containerd wire details', () => {
  it("encodes runc's Options.binary_name as protobuf, at the field number the vendored proto gives", () => {
    const definition = loadSync('github.com/containerd/containerd/runtime/v2/runc/options/oci.proto', {
      includeDirs: ['proto/containerd'],
      keepCase: true,
    });
    const fields = (
      definition['containerd.runc.v1.Options'] as unknown as {
        type: { field: { name: string; number: number }[] };
      }
    ).type.field;
    const number = fields.find((field) => field.name === 'binary_name')!.number;
    expect(number).toBe(6);
    const path = '/usr/local/lib/code-sandbox/containerd-runtimes/runsc';
    const encoded = encodeRuncOptions(path, number);
    expect(encoded[0]).toBe((6 << 3) | 2); // field 6, length-delimited
    expect(encoded[1]).toBe(path.length);
    expect(encoded.subarray(2).toString()).toBe(path);
    const long = 'x'.repeat(300);
    expect(encodeRuncOptions(long, 6).subarray(1, 3)).toEqual(Buffer.from([0xac, 0x02])); // 300 as a varint
  });

  it("reads a task event's container id (field 1)", () => {
    expect(firstStringField(Buffer.from([0x0a, 3, ...Buffer.from('abc')]))).toBe('abc');
    expect(firstStringField(Buffer.from([0x12, 3, ...Buffer.from('abc')]))).toBeUndefined();
    expect(firstStringField(Buffer.from([0x0a, 9, 0x61]))).toBeUndefined(); // truncated
  });

  it('names images as containerd stores them, and computes layer chain ids', () => {
    expect(containerdImageName('code-sandbox-python:missing')).toBe(
      'docker.io/library/code-sandbox-python:missing',
    );
    expect(containerdImageName('me/img:1')).toBe('docker.io/me/img:1');
    expect(containerdImageName('registry.example:5000/img:1')).toBe('registry.example:5000/img:1');
    expect(containerdImageName('localhost/img')).toBe('localhost/img');
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    expect(chainId([a])).toBe(a);
    // sha256("sha256:aaa… sha256:bbb…"), as `docker image inspect`'s layers chain.
    expect(chainId([a, b])).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(chainId([a, b])).not.toBe(chainId([b, a]));
  });
});
