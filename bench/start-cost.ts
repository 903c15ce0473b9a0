// Where a sandbox's lifecycle's time and CPU go (not a test). Runs N sequential lifecycles per variant
// and samples the CPU time of dockerd, containerd, the containerd shim, the runsc CLI calls,
// runsc-sandbox (the gVisor kernel, which also runs the launcher) and runsc-gofer from /proc, against
// the machine's total busy time from /proc/stat.
//   - "lifecycle": the service's real spec and launcher through every phase an execution pays for:
//     create, start, boot (to READY), run (hello-world: start line → result frame), end and remove, for
//     Python and Node.js, once per way of ending a used sandbox (see TEARDOWNS): kill then remove (the
//     path of a program still running), force-remove while the launcher idles, let the launcher exit
//     (stdin closed) then remove, and the same with AutoRemove (dockerd removes it on exit);
//   - "bare python/node, project spec": the same spec running only the interpreter (no launcher), then
//     one variant per option group removed (tmpfs, binds, labels, resource limits, attach/stdin, log
//     driver), down to a minimal create call, to see what each option costs.
// Hold the Docker lock: flock -o /tmp/docker-heavy.lock node --import tsx bench/start-cost.ts [--runs 8]
//   [--only lifecycle|bare] (the bare variants are the old start-only table) [--language python|nodejs]
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import Docker, { type ContainerCreateOptions } from 'dockerode';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { packageRoot } from '../src/config/package-root.js';
import type { Language } from '../src/domain/languages.js';
import { buildContainerSpec } from '../src/sandbox/docker/container-spec.js';
import { DockerSandboxContainer } from '../src/sandbox/docker/docker-sandbox-container.js';
import { LANGUAGE_RUNTIMES, launcherCommand } from '../src/sandbox/docker/language-runtimes.js';
import { installLauncherFiles } from '../src/sandbox/docker/launcher-files.js';
import { SandboxHandle } from '../src/sandbox/lifecycle/sandbox-handle.js';
import { writeJobDirectory } from '../src/sandbox/protocol/job-directory.js';
import { SandboxSession } from '../src/sandbox/protocol/sandbox-session.js';
import { ProcessCpuSampler, totalBusySeconds, type CpuByGroup } from './process-cpu.js';
import { percentile } from './stats.js';

const argument = (name: string) => {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
};
const RUNS = Number(argument('--runs') ?? 8);
const ONLY = argument('--only');
const LANGUAGE = argument('--language');
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
const PHASES = ['create', 'start', 'boot', 'run', 'end', 'remove'] as const;
type Phase = (typeof PHASES)[number];

/**
 * How a used sandbox is ended and removed. "end" is the phase from the result to the container having
 * stopped (or, for force-remove and AutoRemove, to the stream being closed), "remove" the rest.
 */
// Each variant is a different sequence of Docker calls, so it gets the dockerode container itself.
const TEARDOWNS = {
  /** The path of a program that may still run (timeout, cancel): kill, wait for the stop, remove. */
  'kill, remove': async (handle: SandboxHandle, container: Docker.Container) => {
    handle.closeStream();
    await container.kill().catch(() => undefined);
    await container.wait();
    return () => container.remove({ force: true, v: true });
  },
  /** The launcher idles after its result; remove --force kills it (SIGKILL) and removes it at once. */
  'force-remove idle': async (handle: SandboxHandle, container: Docker.Container) => {
    return () => {
      handle.closeStream();
      return container.remove({ force: true, v: true });
    };
  },
  /** Stdin closed: the idle launcher exits by itself (exit 0); then the stopped container is removed. */
  'exit, remove': async (handle: SandboxHandle, container: Docker.Container) => {
    handle.closeStream();
    await container.wait();
    return () => container.remove({ v: true });
  },
  /** Created with AutoRemove: stdin closed, the launcher exits and dockerd removes the container itself. */
  'exit, AutoRemove': async (handle: SandboxHandle, container: Docker.Container) => {
    const removed = container.wait({ condition: 'removed' });
    handle.closeStream();
    await container.wait().catch(() => undefined); // exited (or already removed)
    return () => removed.catch(() => undefined);
  },
} as const;
type Teardown = keyof typeof TEARDOWNS;

interface Variant {
  name: string;
  language?: Language;
  /** A launcher that boots to READY and runs a hello-world (true), or a bare command run to its exit. */
  launcher: boolean;
  teardown?: Teardown;
  edit(spec: ContainerCreateOptions): void;
}

const withoutKeys =
  (...keys: string[]) =>
  (spec: ContainerCreateOptions) => {
    for (const key of keys) delete (spec.HostConfig as Record<string, unknown>)[key];
  };

const HELLO: Record<Language, string> = { python: 'print("hello")', nodejs: "console.log('hello');" };

const LIFECYCLES: Variant[] = (['python', 'nodejs'] as const).flatMap((language) =>
  (Object.keys(TEARDOWNS) as Teardown[]).map((teardown): Variant => ({
    name: `${language === 'python' ? 'python' : 'node'}: ${teardown}`,
    language,
    launcher: true,
    teardown,
    edit: (spec) => {
      if (teardown === 'exit, AutoRemove') spec.HostConfig!.AutoRemove = true;
    },
  })),
);

const BARE: Variant[] = [
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
  /** Machine busy CPU per lifecycle (all phases), seconds. */
  busyCpuSeconds: number;
  /** CPU per lifecycle by process group and phase, seconds. */
  cpuSeconds: Record<Phase, CpuByGroup>;
}

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const config = loadConfig({});

function subtract(after: CpuByGroup, before: CpuByGroup): CpuByGroup {
  const result: CpuByGroup = {};
  for (const group of GROUPS) result[group] = (after[group] ?? 0) - (before[group] ?? 0);
  return result;
}

const emptyPhases = <T>(make: () => T) =>
  Object.fromEntries(PHASES.map((phase) => [phase, make()])) as Record<Phase, T>;

/** Runs hello-world in a READY sandbox as the runner does: job directory, start line, result frame. */
async function runHello(handle: SandboxHandle, language: Language): Promise<void> {
  await writeJobDirectory(handle.jobHostDir, {
    entry: LANGUAGE_RUNTIMES[language].entryFile,
    code: HELLO[language],
    stdin: Buffer.alloc(0),
    files: [],
    entrypoint: 'script',
    argumentsJson: '{}',
    artifacts: { maxCount: 0, maxBytes: 0 },
    maxReturnValueBytes: config.maxReturnValueBytes,
  });
  const outcome = await new SandboxSession({
    stream: handle.takeStream(),
    limits: config.defaultLimits,
    nonce: randomBytes(16).toString('hex'),
    signal: new AbortController().signal,
    callbacks: { onStart: () => undefined, onOutput: () => undefined, onArtifact: () => undefined },
    onStart: () => undefined,
    waitForExit: () => handle.exit(),
    onDiagnostic: () => undefined,
    artifactLimits: { maxCount: 0, maxBytes: 0 },
    maxReturnValueBytes: config.maxReturnValueBytes,
  }).run();
  if (outcome.exitReason !== 'ok')
    throw new Error(`hello-world ended as ${outcome.exitReason}: ${outcome.detail}`);
}

async function measureVariant(
  variant: Variant,
  runtimeHostDir: string,
  jobsRoot: string,
  runs = RUNS,
): Promise<VariantResult> {
  const wall = emptyPhases<number[]>(() => []);
  const cpu = emptyPhases<CpuByGroup>(() => ({}));
  const sampler = new ProcessCpuSampler();
  sampler.start();
  const busyBefore = totalBusySeconds();
  const language = variant.language ?? 'python';
  for (let run = 0; run < runs; run++) {
    const sandboxId = `bench-${randomUUID()}`;
    const jobHostDir = join(jobsRoot, sandboxId);
    mkdirSync(jobHostDir, { recursive: true, mode: 0o755 });
    const spec = buildContainerSpec({
      sandboxId,
      instanceId: 'bench-start-cost',
      image: config.images[language],
      runtime: config.runtime,
      launcherCommand: variant.launcher
        ? launcherCommand(language, [])
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
    let remove = () => container.remove({ force: true, v: true }) as Promise<unknown>;
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
        const handle = new SandboxHandle(sandboxId, sandbox, attached, jobHostDir);
        await handle.waitUntilReady(60_000);
        endPhase('boot');
        await runHello(handle, language);
        endPhase('run');
        remove = await TEARDOWNS[variant.teardown ?? 'force-remove idle'](handle, container);
        endPhase('end');
      } else {
        await container.wait();
        endPhase('boot');
        attached?.destroy();
      }
    } finally {
      await remove();
      endPhase('remove');
      rmSync(jobHostDir, { recursive: true, force: true });
    }
  }
  const busyCpuSeconds = (totalBusySeconds() - busyBefore) / runs;
  sampler.stop();
  const median = (values: number[]) =>
    values.length === 0
      ? 0
      : Math.round(
          percentile(
            [...values].sort((a, b) => a - b),
            0.5,
          ),
        );
  const perRun = (byGroup: CpuByGroup) =>
    Object.fromEntries(GROUPS.map((group) => [group, (byGroup[group] ?? 0) / runs]));
  return {
    name: variant.name,
    runs,
    wallMs: Object.fromEntries(PHASES.map((phase) => [phase, median(wall[phase])])) as Record<Phase, number>,
    busyCpuSeconds,
    cpuSeconds: Object.fromEntries(PHASES.map((phase) => [phase, perRun(cpu[phase])])) as Record<
      Phase,
      CpuByGroup
    >,
  };
}

const groupTotal = (result: VariantResult, phases: readonly Phase[] = PHASES) =>
  phases.reduce(
    (sum, phase) => sum + GROUPS.reduce((inner, group) => inner + (result.cpuSeconds[phase][group] ?? 0), 0),
    0,
  );

/** A start's CPU (create + start + boot) in the container machinery's groups: "other" is left out. */
const startCpu = (result: VariantResult) =>
  (['create', 'start', 'boot'] as const).reduce(
    (sum, phase) =>
      sum +
      GROUPS.filter((group) => group !== 'other').reduce(
        (inner, group) => inner + (result.cpuSeconds[phase][group] ?? 0),
        0,
      ),
    0,
  );

/** The issue's Node.js start target, against Python's start measured in the same run. */
function printStartTarget(results: VariantResult[]): void {
  const mean = (language: string) => {
    const starts = results.filter((result) => result.name.startsWith(`${language}: `)).map(startCpu);
    return starts.length === 0 ? undefined : starts.reduce((sum, value) => sum + value, 0) / starts.length;
  };
  const node = mean('node');
  const python = mean('python');
  if (node === undefined) return;
  console.log(
    `\ntarget: Node.js start (create + start + boot, all groups but "other", mean of its lifecycles) <= 0.45 CPU-s: ` +
      `measured ${node.toFixed(3)} ${node <= 0.45 ? 'pass' : 'FAIL'}` +
      (python === undefined
        ? ''
        : `; Python start in the same run ${python.toFixed(3)} (Node.js / Python ${(node / python).toFixed(2)}x)`),
  );
}

function printResults(results: VariantResult[]): void {
  const ms = (value: number) => String(value).padStart(7);
  const s = (value: number) => value.toFixed(3).padStart(8);
  console.log(
    `${'variant'.padEnd(30)} ${PHASES.map((h) => `${h} ms`.padStart(9)).join('')}` +
      `${'groups cpu s'.padStart(13)}${'busy cpu s'.padStart(11)}`,
  );
  for (const result of results) {
    const w = result.wallMs;
    console.log(
      `${result.name.padEnd(30)} ${PHASES.map((phase) => `${ms(w[phase])}  `).join('')}${s(groupTotal(result)).padStart(13)}${s(result.busyCpuSeconds).padStart(11)}`,
    );
  }
  console.log(
    `\nCPU seconds per lifecycle by process group and phase (sampled from /proc every 20 ms; "busy" is the whole machine, shared with other work):`,
  );
  for (const result of results.filter((entry) => !entry.name.startsWith('bare python, '))) {
    console.log(`\n${result.name}`);
    console.log(
      `${'group'.padEnd(18)}${PHASES.map((phase) => phase.padStart(9)).join('')}${'total'.padStart(9)}`,
    );
    for (const group of GROUPS) {
      const perPhase = PHASES.map((phase) => result.cpuSeconds[phase][group] ?? 0);
      const total = perPhase.reduce((sum, value) => sum + value, 0);
      console.log(`${group.padEnd(18)}${perPhase.map(s).join(' ')}${s(total)}`);
    }
    const perPhase = PHASES.map((phase) => groupTotal(result, [phase]));
    console.log(`${'all groups'.padEnd(18)}${perPhase.map(s).join(' ')}${s(groupTotal(result))}`);
    console.log(
      `start (create+start+boot) ${groupTotal(result, ['create', 'start', 'boot']).toFixed(3)} s, teardown (end+remove) ${groupTotal(result, ['end', 'remove']).toFixed(3)} s; machine busy ${result.busyCpuSeconds.toFixed(3)} s per lifecycle`,
    );
  }
}

async function main(): Promise<void> {
  const variants = [...(ONLY === 'bare' ? [] : LIFECYCLES), ...(ONLY === 'lifecycle' ? [] : BARE)].filter(
    (variant) => LANGUAGE === undefined || (variant.language ?? 'python') === LANGUAGE,
  );
  console.log(
    `sandbox lifecycle cost: ${config.images.python} / ${config.images.nodejs}, ${config.runtime}, ${RUNS} sequential lifecycles per variant\n`,
  );
  const runtimeHostDir = await installLauncherFiles(join(packageRoot(), 'sandbox-runtime'), config.workRoot);
  const jobsRoot = join(config.workRoot, 'jobs', 'bench-start-cost');
  // Warm-up: image layers and runsc binary in the page cache.
  for (const language of ['python', 'nodejs'] as const)
    await measureVariant(
      { ...LIFECYCLES.find((v) => v.language === language)!, name: 'warm-up' },
      runtimeHostDir,
      jobsRoot,
      2,
    );
  const results: VariantResult[] = [];
  for (const variant of variants) results.push(await measureVariant(variant, runtimeHostDir, jobsRoot));
  rmSync(jobsRoot, { recursive: true, force: true });
  printResults(results);
  printStartTarget(results);
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/start-cost.json',
    `${JSON.stringify({ date: new Date().toISOString(), images: config.images, runs: RUNS, results }, null, 2)}\n`,
  );
  console.log('\nwritten: bench-results/start-cost.json');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
