import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeGrpc, inspectWhileRunning, python, startTestApp, type TestApp } from '../support/test-app.js';

// PTRACE_TRACEME through libc: gVisor implements ptrace, so only the seccomp profile makes it fail.
const PTRACE_PROBE = [
  'import ctypes, errno',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'result = libc.syscall(101, 0, 0, 0, 0)  # x86_64 ptrace(PTRACE_TRACEME)',
  'print(result, errno.errorcode.get(ctypes.get_errno(), 0) if result else "ok")',
].join('\n');

/** SANDBOX_ENABLE_SECCOMP=true on the runsc-seccomp runtime (runsc --oci-seccomp), against plain runsc. */
describe('SANDBOX_ENABLE_SECCOMP', () => {
  let filtered: TestApp;
  let plain: TestApp;
  beforeAll(async () => {
    [filtered, plain] = await Promise.all([startTestApp({ SANDBOX_ENABLE_SECCOMP: 'true' }), startTestApp()]);
  });
  afterAll(async () => {
    await Promise.all([filtered?.stop(), plain?.stop()]);
  });

  it('fails a syscall the profile denies, which runs without it', async () => {
    const denied = await executeGrpc(filtered.grpc, python(PTRACE_PROBE));
    expect(denied.stdout.toString()).toBe('-1 EPERM\n');
    const allowed = await executeGrpc(plain.grpc, python(PTRACE_PROBE));
    expect(allowed.stdout.toString()).toBe('0 ok\n');
  });

  it('still runs ordinary code: threads, numpy and pandas, Node.js with axios', async () => {
    const py = await executeGrpc(
      filtered.grpc,
      python(
        [
          'import threading, numpy, pandas',
          'box = []',
          't = threading.Thread(target=lambda: box.append(int(numpy.arange(10).sum())))',
          't.start(); t.join()',
          'print(box[0], pandas.DataFrame({"a": [1, 2]})["a"].sum())',
        ].join('\n'),
        { limits: { timeout_ms: 30_000 } },
      ),
    );
    expect(py.stderr.toString()).toBe('');
    expect(py.stdout.toString()).toBe('45 3\n');
    const js = await executeGrpc(filtered.grpc, {
      language: 'nodejs',
      code: "const axios = require('axios'); setTimeout(() => console.log(typeof axios.get), 10);",
    });
    expect(js.stdout.toString()).toBe('function\n');
    expect(js.result).toMatchObject({ exit_reason: 'ok' });
  });

  it('puts the profile on the container and starts it on runsc-seccomp', async () => {
    const { inspected } = await inspectWhileRunning(filtered, python('import time; time.sleep(30)'));
    expect(inspected.HostConfig.Runtime).toBe('runsc-seccomp');
    const seccomp = inspected.HostConfig.SecurityOpt?.find((option: string) => option.startsWith('seccomp='));
    expect(JSON.parse(seccomp!.slice('seccomp='.length))).toMatchObject({ defaultAction: 'SCMP_ACT_ALLOW' });
  });
});
