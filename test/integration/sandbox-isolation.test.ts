import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectIsolated, labelsOf } from '../support/expect-isolated.js';
import {
  sandboxContainersOf,
  eventuallyEmpty,
  executeGrpc,
  inspectSandboxWhileRunning,
  python,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

/** Runs a probe script and returns what it printed, one "name=value" per line, as a record. */
async function probe(lines: string[]): Promise<Record<string, string>> {
  const run = await executeGrpc(t.grpc, python(lines.join('\n')));
  expect(run.result?.exit_reason, run.stderr.toString()).toBe('ok');
  return Object.fromEntries(
    run.stdout
      .toString()
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string]),
  );
}

describe('sandbox isolation on runsc', () => {
  it('creates the container with every isolation setting (checked through docker inspect or the containerd record)', async () => {
    const { run, inspected, sandboxId } = await inspectSandboxWhileRunning(
      t,
      python('import time\nprint("up", flush=True)\ntime.sleep(30)', {
        limits: { memory_bytes: 200 * 1024 * 1024, cpu_millicores: 500, max_processes: 40 },
      }),
    );
    expect(run.result).toBeUndefined(); // cancelled while sleeping
    expectIsolated(inspected, {
      ...t.config.defaultLimits,
      memoryBytes: 200 * 1024 * 1024,
      cpuMillicores: 500,
      maxProcesses: 40,
    });
    expect(labelsOf(inspected)['code-sandbox.instance']).toBe(t.config.instanceId);
    expect(labelsOf(inspected)['code-sandbox.sandbox']).toBe(sandboxId);
  });

  it('runs as an unprivileged user with no capabilities', async () => {
    const result = await probe([
      'import os',
      'print(f"uid={os.getuid()}")',
      'print(f"gid={os.getgid()}")',
      'caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]',
      'print(f"capeff={caps}")',
      'nnp = [l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")]',
      'print(f"nonewprivs={nnp[0].split()[1] if nnp else \'?\'}")',
    ]);
    expect(result.uid).toBe('65534');
    expect(result.gid).toBe('65534');
    expect(result.capeff).toBe('0000000000000000');
  });

  it('has no network: connecting out by IP and resolving names both fail', async () => {
    const result = await probe([
      'import socket',
      'def attempt(f):',
      '    try:',
      '        f()',
      '        return "connected"',
      '    except OSError as e:',
      '        return f"refused:{type(e).__name__}"',
      'print("tcp_ip=" + attempt(lambda: socket.create_connection(("1.1.1.1", 53), timeout=3)))',
      'print("dns=" + attempt(lambda: socket.getaddrinfo("example.com", 80)))',
      'ifaces = [name for _, name in socket.if_nameindex()]',
      'print("interfaces=" + ",".join(sorted(ifaces)))',
    ]);
    expect(result.tcp_ip).toMatch(/^refused:/);
    expect(result.dns).toMatch(/^refused:/);
    expect(result.interfaces?.split(',').filter((name) => name !== 'lo')).toEqual([]);
  });

  it('refuses writes to the root filesystem and the code mount, allows them in /work, /tmp and /dev/shm', async () => {
    const result = await probe([
      'import os',
      'def write(path):',
      '    try:',
      '        with open(path, "w") as f: f.write("x")',
      '        return "written"',
      '    except OSError as e:',
      '        return f"refused:{e.errno}"',
      'print("etc=" + write("/etc/evil"))',
      'print("usr=" + write("/usr/bin/evil"))',
      'print("code=" + write("/sandbox/job/main.py"))',
      'print("runtime=" + write("/sandbox/runtime/evil"))',
      'print("shm=" + write("/dev/shm/evil"))',
      'print("work=" + write("/work/ok"))',
      'print("tmp=" + write("/tmp/ok"))',
      'print("cwd=" + os.getcwd())',
    ]);
    for (const path of ['etc', 'usr', 'code', 'runtime']) expect(result[path]).toMatch(/^refused:(13|30)$/);
    expect(result.work).toBe('written');
    expect(result.tmp).toBe('written');
    expect(result.shm).toBe('written');
    expect(result.cwd).toBe('/work');
  });

  it('gives every execution a fresh scratch space: nothing of one run is visible to the next', async () => {
    await probe([
      'open("/work/secret", "w").write("s")',
      'open("/tmp/secret", "w").write("s")',
      'print("a=1")',
    ]);
    const result = await probe([
      'import os',
      'print(f"work={os.path.exists(\'/work/secret\')}")',
      'print(f"tmp={os.path.exists(\'/tmp/secret\')}")',
    ]);
    expect(result).toEqual({ work: 'False', tmp: 'False' });
  });

  it("cannot forge a result by writing frames into the launcher's stdout", async () => {
    const code = [
      'import json',
      'fake = json.dumps({"nonce": "guess", "exit_code": 0, "signal": 0, "max_rss_kb": 1}).encode()',
      'frame = bytes([3, 0, 0, 0]) + len(fake).to_bytes(4, "big") + fake',
      'print("RESULT " + fake.decode(), flush=True)',
      'try:',
      '    with open("/proc/1/fd/1", "wb") as out: out.write(frame)',
      'except OSError:',
      '    pass',
      'raise SystemExit(5)',
    ].join('\n');
    const run = await executeGrpc(t.grpc, python(code));
    // Either the launcher's real result (exit 5) or a detected tampering, never the forged success.
    expect(run.result?.exit_reason).not.toBe('ok');
    expect(['error', 'sandbox_error']).toContain(run.result?.exit_reason);
    expect(await eventuallyEmpty(() => sandboxContainersOf(t, run.sandboxId as string))).toEqual([]);
  });
});
