// What idle pooled sandboxes cost the host (not a test): machine busy CPU over a quiet period with the
// service holding pools of different sizes, against the same period with no pool.
// Hold the Docker lock: flock /tmp/docker-heavy.lock node --import tsx bench/idle-cost.ts [--seconds 10]
import Docker from 'dockerode';
import { waitForQuietService } from './operations.js';
import { ProcessCpuSampler, totalBusySeconds, type CpuByGroup } from './process-cpu.js';
import { startServiceProcess } from './service-process.js';

const secondsIndex = process.argv.indexOf('--seconds');
const SECONDS = secondsIndex >= 0 ? Number(process.argv[secondsIndex + 1]) : 10;
const POOL_SIZES = [0, 4, 12];
const docker = new Docker({ socketPath: '/var/run/docker.sock' });

async function idleBusyCores(poolSize: number): Promise<{ busy: number; byGroup: CpuByGroup }> {
  const service = await startServiceProcess({
    SANDBOX_POOL_SIZE: String(poolSize),
    SANDBOX_POOL_MAX: String(Math.max(1, poolSize)),
  });
  try {
    await waitForQuietService(docker, service.httpPort, service.instanceId);
    await new Promise((resolve) => setTimeout(resolve, 2000)); // let the last boot settle
    const sampler = new ProcessCpuSampler();
    sampler.start(200);
    const before = totalBusySeconds();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const busy = (totalBusySeconds() - before) / SECONDS;
    sampler.stop();
    const byGroup = Object.fromEntries(
      Object.entries(sampler.totals()).map(([group, seconds]) => [group, seconds / SECONDS]),
    );
    return { busy, byGroup };
  } finally {
    await service.stop();
  }
}

async function main(): Promise<void> {
  console.log(`busy CPU (cores) of the whole machine over ${SECONDS} s with the service idle:`);
  for (const size of POOL_SIZES) {
    const { busy, byGroup } = await idleBusyCores(size);
    const groups = Object.entries(byGroup)
      .filter(([, cores]) => cores > 0.001)
      .map(([group, cores]) => `${group} ${cores.toFixed(3)}`)
      .join(', ');
    console.log(
      `  pool ${String(size).padStart(2)} per language (${2 * size} idle sandboxes): ${busy.toFixed(3)} cores (${groups})`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
