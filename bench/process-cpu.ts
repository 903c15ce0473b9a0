import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds per process group, as read from /proc (utime + stime, clock ticks of 10 ms). */
export type CpuByGroup = Record<string, number>;

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * Which part of the container machinery a process belongs to (or the service itself, as the benchmarks
 * start it). runsc re-executes itself as /proc/self/exe
 * (its comm is "exe"), so its role is read from argv[0] ("runsc-sandbox", "runsc-gofer"; "runsc" for
 * the short-lived CLI calls the shim makes: create, start, state, kill, delete). The sandboxed program
 * itself (launcher, interpreter, user code) runs in gVisor's ptrace stub processes: no command line,
 * in a container's cgroup.
 */
export function processGroup(argv: string[], cgroup: string): string {
  const program = (argv[0] ?? '').split('/').pop() ?? '';
  if (program === '' && cgroup.includes('/docker/')) return 'sandboxed program';
  if (program === 'runsc-sandbox' || program === 'runsc-gofer') return program;
  if (program === 'runsc') return 'runsc (cli)';
  if (program.startsWith('containerd-shim')) return 'containerd-shim';
  if (program === 'dockerd' || program === 'containerd') return program;
  if (argv.some((argument) => argument.endsWith('dist/src/main.js'))) return 'service';
  return 'other';
}

/**
 * Samples the CPU time of every process on the machine, remembering each one's last value, so
 * processes that exited between two samples still count (up to their last sample). Short-lived ones
 * that start and end between samples are missed; `totalBusySeconds` (from /proc/stat) is the ground
 * truth the groups are compared against.
 */
export class ProcessCpuSampler {
  private readonly groups = new Map<number, string>();
  private readonly last = new Map<number, number>();
  private readonly baseline = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly excludePid = process.pid) {}

  /** Starts sampling every `intervalMs`; processes alive now only count from this moment on. */
  start(intervalMs = 20): void {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample(false);
  }

  /** CPU seconds per group since start(), sampling first so the figure is current. */
  totals(): CpuByGroup {
    this.sample(false);
    const totals: CpuByGroup = {};
    for (const [pid, ticks] of this.last) {
      const group = this.groups.get(pid) ?? 'other';
      const used = ticks - (this.baseline.get(pid) ?? 0);
      totals[group] = (totals[group] ?? 0) + used / TICKS_PER_SECOND;
    }
    return totals;
  }

  private sample(isBaseline: boolean): void {
    let entries: string[];
    try {
      entries = readdirSync('/proc');
    } catch {
      return;
    }
    for (const entry of entries) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === this.excludePid) continue;
      const ticks = readTicks(pid);
      if (ticks === undefined) continue;
      if (!this.groups.has(pid)) {
        const argv = readArgv(pid);
        if (argv === undefined) continue;
        this.groups.set(pid, processGroup(argv, readText(`/proc/${pid}/cgroup`) ?? ''));
        if (isBaseline) this.baseline.set(pid, ticks);
      }
      this.last.set(pid, ticks);
    }
  }
}

function readTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised comm (which may contain spaces); utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined; // exited meanwhile
  }
}

function readArgv(pid: number): string[] | undefined {
  return readText(`/proc/${pid}/cmdline`)?.split('\0');
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
}

/** Busy CPU seconds of the whole machine (all cores, everything but idle and iowait) so far. */
export function totalBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
}
