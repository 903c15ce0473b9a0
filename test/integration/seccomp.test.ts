import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeGrpc, inspectWhileRunning, python, startTestApp, type TestApp } from '../support/test-app.js';

/** A rule of seccomp/sandbox-profile.json, in Docker's format. */
interface ProfileRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

const PROFILE = JSON.parse(readFileSync('seccomp/sandbox-profile.json', 'utf8')) as {
  syscalls: ProfileRule[];
};

/**
 * x86_64 syscall numbers from the kernel's own header (linux-libc-dev, installed by setup), so the
 * probe below can call every name the profile lists without a table of our own.
 */
function syscallNumbers(): Map<string, number> {
  const header = readFileSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', 'utf8');
  return new Map([...header.matchAll(/^#define __NR_(\w+) (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** One call the profile must refuse: a label, the syscall, its arguments and the errno expected. */
interface RefusedCall {
  label: string;
  nr: number;
  args: number[];
  errno: number;
  /** clone-like: a call that wrongly succeeds has a child that must exit at once. */
  forks: boolean;
}

const SIGCHLD = 17;
const ENOSYS = 38;

/**
 * Every call the profile refuses, derived from the profile itself so test and profile cannot drift:
 * each listed syscall with zero arguments; each argument-filtered rule (clone with a CLONE_NEW* flag)
 * with the flag it matches; and unshare, the other way into a namespace, with each of those flags.
 */
function refusedCalls(): RefusedCall[] {
  const numbers = syscallNumbers();
  const nr = (name: string) => {
    const value = numbers.get(name);
    if (value === undefined) throw new Error(`no x86_64 syscall number for "${name}" in the profile`);
    return value;
  };
  const calls: RefusedCall[] = [];
  const namespaceFlags: number[] = [];
  for (const rule of PROFILE.syscalls) {
    expect(rule.action).toBe('SCMP_ACT_ERRNO');
    const errno = rule.errnoRet!;
    for (const name of rule.names) {
      if (!rule.args) {
        calls.push({ label: name, nr: nr(name), args: [], errno, forks: false });
        continue;
      }
      const args = [0, 0, 0, 0, 0];
      for (const condition of rule.args) {
        expect(condition.op).toBe('SCMP_CMP_MASKED_EQ');
        args[condition.index] = condition.value;
      }
      namespaceFlags.push(args[0]!);
      // SIGCHLD as the exit signal, as fork() passes it: the call is otherwise an ordinary fork.
      args[0] = args[0]! | SIGCHLD;
      calls.push({ label: `${name}(0x${args[0].toString(16)})`, nr: nr(name), args, errno, forks: true });
    }
  }
  // clone3 carries its flags in memory a filter cannot read, and this runsc answers EPERM whatever
  // errnoRet says (libc then does not fall back to clone), so the profile cannot list it; runsc does
  // not implement it (ENOSYS). A runsc that does would open a way into namespaces: this fails then.
  calls.push({ label: 'clone3', nr: nr('clone3'), args: [0, 0], errno: ENOSYS, forks: false });
  const unshare = PROFILE.syscalls.find((rule) => rule.names.includes('unshare'))!;
  for (const flag of namespaceFlags) {
    calls.push({
      label: `unshare(0x${flag.toString(16)})`,
      nr: nr('unshare'),
      args: [flag],
      errno: unshare.errnoRet!,
      forks: false,
    });
  }
  return calls;
}

/** Python that makes each call through libc's syscall() and prints {label: errno (0 = it succeeded)}. */
function refusedCallsProbe(calls: RefusedCall[]): string {
  return [
    'import ctypes, json, os',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.syscall.restype = ctypes.c_long',
    `calls = json.loads(${JSON.stringify(JSON.stringify(calls))})`,
    'seen = {}',
    'for call in calls:',
    '    ctypes.set_errno(0)',
    '    result = libc.syscall(ctypes.c_long(call["nr"]), *[ctypes.c_ulong(a) for a in call["args"]])',
    '    if call["forks"] and result == 0:',
    '        os._exit(0)  # the child of a clone that was let through',
    '    if call["forks"] and result > 0:',
    '        os.waitpid(result, 0)',
    '    seen[call["label"]] = ctypes.get_errno() if result == -1 else 0',
    'print(json.dumps(seen))',
  ].join('\n');
}

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

  it('refuses every call the profile lists, clone with each CLONE_NEW* flag and unshare alike', async () => {
    const calls = refusedCalls();
    expect(calls.map((call) => call.label)).toEqual(
      expect.arrayContaining(['clone(0x10000011)', 'unshare(0x10000000)', 'clone3', 'setns', 'mount']),
    );
    const run = await executeGrpc(filtered.grpc, python(refusedCallsProbe(calls)));
    expect(run.stderr.toString()).toBe('');
    const seen = JSON.parse(run.stdout.toString()) as Record<string, number>;
    expect(Object.keys(seen)).toEqual(calls.map((call) => call.label));
    // Refused: the profile's errno, or ENOSYS for a syscall this runsc does not implement at all
    // (mount_setattr, pidfd_getfd here), which no program can reach either.
    const notRefused = calls.filter((call) => seen[call.label] !== call.errno && seen[call.label] !== ENOSYS);
    expect(notRefused.map((call) => `${call.label}: errno ${seen[call.label]}`)).toEqual([]);
    // Without the profile, gVisor lets clone create a user namespace: the filter is what stops it.
    const newUser = calls.filter((call) => call.label === 'clone(0x10000011)');
    const plainRun = await executeGrpc(plain.grpc, python(refusedCallsProbe(newUser)));
    expect(JSON.parse(plainRun.stdout.toString())).toEqual({ 'clone(0x10000011)': 0 });
  });

  it('still forks: clone without namespace flags passes', async () => {
    const run = await executeGrpc(
      filtered.grpc,
      python(
        'import os\npid = os.fork()\nif pid == 0: os._exit(7)\nprint(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))',
      ),
    );
    expect(run.stdout.toString()).toBe('7\n');
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
