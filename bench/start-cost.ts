// Where a sandbox start's time and CPU go (not a test). Runs N sequential starts per variant of the
// container create call and samples the CPU time of dockerd, containerd, the containerd shim, the
// runsc CLI calls, runsc-sandbox (the gVisor kernel, which also runs the launcher) and runsc-gofer
// from /proc, against the machine's total busy time from /proc/stat.
//   - "launcher, project spec": the service's real spec and launcher, create → start → READY → remove
//     (Python, and Node.js), against "bare", the same spec running only the interpreter;
//   - "bare python, ...": the same spec running `python3 -c pass` (no launcher), then one variant per
//     option group removed (tmpfs, binds, labels, resource limits, attach/stdin, log driver), down to a
//     minimal create call, to see what each option costs.
// Hold the Docker lock: flock /tmp/docker-heavy.lock node --import tsx bench/start-cost.ts [--runs 8]
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import Docker, { type ContainerCreateOptions } from 'dockerode';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { packageRoot } from '../src/config/package-root.js';
import { buildContainerSpec } from '../src/sandbox/docker/container-spec.js';
import { DockerSandboxContainer } from '../src/sandbox/docker/docker-sandbox-container.js';
import { launcherCommand } from '../src/sandbox/docker/language-runtimes.js';
import { installLauncherFiles } from '../src/sandbox/docker/launcher-files.js';
import { SandboxHandle } from '../src/sandbox/lifecycle/sandbox-handle.js';
import { ProcessCpuSampler, totalBusySeconds, type CpuByGroup } from './process-cpu.js';
import { percentile } from './stats.js';

const runsIndex = process.argv.indexOf('--runs');
const RUNS = runsIndex >= 0 ? Number(process.argv[runsIndex + 1]) : 8;
const GROUPS = [
  'dockerd',
  'containerd',
  'containerd-shim',
  'runsc (cli)',
  'runsc-sandbox',
  'runsc-gofer',
  'sandboxed program',
  'other',
] as const;
const PHASES = ['create', 'start', 'boot', 'remove'] as const;
type Phase = (typeof PHASES)[number];

interface Variant {
  name: string;
  language?: 'python' | 'nodejs';
  /** Waits for the launcher's READY (true) or for the bare command to exit (false). */
  launcher: boolean;
  edit(spec: ContainerCreateOptions): void;
}

const withoutKeys =
  (...keys: string[]) =>
  (spec: ContainerCreateOptions) => {
    for (const key of keys) delete (spec.HostConfig as Record<string, unknown>)[key];
  };

const VARIANTS: Variant[] = [
  { name: 'launcher, project spec', launcher: true, edit: () => undefined },
  { name: 'launcher (node), project spec', language: 'nodejs', launcher: true, edit: () => undefined },
  {
    name: 'bare node, project spec',
    language: 'nodejs',
    launcher: false,
    edit: (spec) => {
      spec.Cmd = ['node', '-e', '0'];
    },
  },
  { name: 'bare python, project spec', launcher: false, edit: () => undefined },
  { name: 'bare python, no tmpfs', launcher: false, edit: withoutKeys('Tmpfs') },
  {
    name: 'bare python, one tmpfs',
    launcher: false,
    edit: (spec) => {
      spec.HostConfig!.Tmpfs = { '/tmp': spec.HostConfig!.Tmpfs!['/tmp']! };
    },
  },
  { name: 'bare python, no bind mounts', launcher: false, edit: withoutKeys('Binds') },
  { name: 'bare python, no labels', launcher: false, edit: (spec) => delete spec.Labels },
  {
    name: 'bare python, no resource limits',
    launcher: false,
    edit: withoutKeys('Memory', 'MemorySwap', 'NanoCpus', 'PidsLimit', 'Ulimits'),
  },
  {
    name: 'bare python, json-file log driver',
    launcher: false,
    edit: (spec) => {
      spec.HostConfig!.LogConfig = { Type: 'json-file', Config: {} };
    },
  },
  {
    name: 'bare python, minimal create call',
    launcher: false,
    edit: (spec) => {
      const runtime = spec.HostConfig!.Runtime;
      for (const key of Object.keys(spec))
        if (!['Image', 'Cmd', 'name'].includes(key)) delete (spec as Record<string, unknown>)[key];
      spec.HostConfig = { Runtime: runtime, NetworkMode: 'none' };
    },
  },
];

interface VariantResult {
  name: string;
  runs: number;
  /** Median wall time per phase, ms. */
  wallMs: Record<Phase, number>;
  /** Machine busy CPU per start (all phases), seconds. */
  busyCpuSeconds: number;
  /** CPU per start by process group and phase, seconds. */
  cpuSeconds: Record<Phase, CpuByGroup>;
}

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const config = loadConfig({});

function subtract(after: CpuByGroup, before: CpuByGroup): CpuByGroup {
  const result: CpuByGroup = {};
  for (const group of GROUPS) result[group] = (after[group] ?? 0) - (before[group] ?? 0);
  return result;
}

async function measureVariant(
  variant: Variant,
  runtimeHostDir: string,
  jobsRoot: string,
): Promise<VariantResult> {
  const wall: Record<Phase, number[]> = { create: [], start: [], boot: [], remove: [] };
  const cpu: Record<Phase, CpuByGroup> = { create: {}, start: {}, boot: {}, remove: {} };
  const sampler = new ProcessCpuSampler();
  sampler.start();
  const busyBefore = totalBusySeconds();
  for (let run = 0; run < RUNS; run++) {
    const sandboxId = `bench-${randomUUID()}`;
    const jobHostDir = join(jobsRoot, sandboxId);
    mkdirSync(jobHostDir, { recursive: true, mode: 0o755 });
    const spec = buildContainerSpec({
      sandboxId,
      instanceId: 'bench-start-cost',
      image: config.images[variant.language ?? 'python'],
      runtime: config.runtime,
      launcherCommand: variant.launcher
        ? launcherCommand(variant.language ?? 'python', [])
        : ['python3', '-I', '-S', '-c', 'pass'],
      limits: config.defaultLimits,
      scratchBytes: config.scratchBytes,
      jobHostDir,
      runtimeHostDir,
      expiresAtMs: Date.now() + 300_000,
      seccompProfile: undefined, // the service's default (SANDBOX_ENABLE_SECCOMP off)
    });
    variant.edit(spec);
    let phaseStart = performance.now();
    let cpuStart = sampler.totals();
    const endPhase = (phase: Phase) => {
      const now = performance.now();
      const cpuNow = sampler.totals();
      wall[phase].push(now - phaseStart);
      const used = subtract(cpuNow, cpuStart);
      for (const group of GROUPS) cpu[phase][group] = (cpu[phase][group] ?? 0) + (used[group] ?? 0);
      phaseStart = now;
      cpuStart = cpuNow;
    };
    const container = await docker.createContainer(spec);
    try {
      endPhase('create');
      const attached = spec.AttachStdout
        ? ((await container.attach({
            stream: true,
            stdin: true,
            stdout: true,
            stderr: true,
            hijack: true,
          })) as Duplex)
        : undefined;
      await container.start();
      endPhase('start');
      if (variant.launcher && attached) {
        const sandbox = new DockerSandboxContainer(container, pino({ level: 'silent' }));
        await new SandboxHandle(sandboxId, sandbox, attached, jobHostDir).waitUntilReady(60_000);
      } else {
        await container.wait();
      }
      endPhase('boot');
      attached?.destroy();
    } finally {
      await container.remove({ force: true, v: true });
      endPhase('remove');
      rmSync(jobHostDir, { recursive: true, force: true });
    }
  }
  const busyCpuSeconds = (totalBusySeconds() - busyBefore) / RUNS;
  sampler.stop();
  const median = (values: number[]) =>
    Math.round(
      percentile(
        [...values].sort((a, b) => a - b),
        0.5,
      ),
    );
  const perStart = (byGroup: CpuByGroup) =>
    Object.fromEntries(GROUPS.map((group) => [group, (byGroup[group] ?? 0) / RUNS]));
  return {
    name: variant.name,
    runs: RUNS,
    wallMs: {
      create: median(wall.create),
      start: median(wall.start),
      boot: median(wall.boot),
      remove: median(wall.remove),
    },
    busyCpuSeconds,
    cpuSeconds: {
      create: perStart(cpu.create),
      start: perStart(cpu.start),
      boot: perStart(cpu.boot),
      remove: perStart(cpu.remove),
    },
  };
}

function printResults(results: VariantResult[]): void {
  const ms = (value: number) => String(value).padStart(7);
  const s = (value: number) => value.toFixed(3).padStart(8);
  console.log(
    `${'variant'.padEnd(36)} ${['create', 'start', 'boot', 'remove'].map((h) => `${h} ms`.padStart(9)).join('')}` +
      `${'busy cpu s'.padStart(11)}`,
  );
  for (const result of results) {
    const w = result.wallMs;
    console.log(
      `${result.name.padEnd(36)} ${[w.create, w.start, w.boot, w.remove].map((v) => `${ms(v)}  `).join('')}${s(result.busyCpuSeconds).padStart(11)}`,
    );
  }
  console.log(`\nCPU seconds per start by process group and phase (sampled from /proc every 20 ms):`);
  for (const result of results.filter((entry) => entry.name.endsWith('project spec'))) {
    console.log(`\n${result.name}`);
    console.log(
      `${'group'.padEnd(18)}${PHASES.map((phase) => phase.padStart(9)).join('')}${'total'.padStart(9)}`,
    );
    for (const group of GROUPS) {
      const perPhase = PHASES.map((phase) => result.cpuSeconds[phase][group] ?? 0);
      const total = perPhase.reduce((sum, value) => sum + value, 0);
      console.log(`${group.padEnd(18)}${perPhase.map(s).join(' ')}${s(total)}`);
    }
    const attributed = PHASES.reduce(
      (sum, phase) =>
        sum + GROUPS.reduce((inner, group) => inner + (result.cpuSeconds[phase][group] ?? 0), 0),
      0,
    );
    console.log(
      `attributed ${attributed.toFixed(3)} s of ${result.busyCpuSeconds.toFixed(3)} s machine busy time per start (the rest: kernel work, this script, exits between samples)`,
    );
  }
}

async function main(): Promise<void> {
  console.log(
    `sandbox start cost: ${config.images.python}, ${config.runtime}, ${RUNS} sequential starts per variant\n`,
  );
  const runtimeHostDir = await installLauncherFiles(join(packageRoot(), 'sandbox-runtime'), config.workRoot);
  const jobsRoot = join(config.workRoot, 'jobs', 'bench-start-cost');
  // Warm-up: image layers and runsc binary in the page cache.
  await measureVariant({ ...VARIANTS[1]!, name: 'warm-up' }, runtimeHostDir, jobsRoot);
  const results: VariantResult[] = [];
  for (const variant of VARIANTS) results.push(await measureVariant(variant, runtimeHostDir, jobsRoot));
  rmSync(jobsRoot, { recursive: true, force: true });
  printResults(results);
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/start-cost.json',
    `${JSON.stringify({ date: new Date().toISOString(), image: config.images.python, runs: RUNS, results }, null, 2)}\n`,
  );
  console.log('\nwritten: bench-results/start-cost.json');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
