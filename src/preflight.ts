/**
 * Start-up check of the host, for container deployments (docker-compose runs it as a one-shot step
 * before the service; a Kubernetes initContainer can do the same):
 *
 *   node dist/src/preflight.js [--prepare-work-root UID:GID] [--docker-group GID]
 *
 * Reads the same SANDBOX_* variables as the service. Prints one line per check and exits 1 when any
 * fails, so a misconfigured host stops the stack with a message instead of a service that never
 * becomes ready. `--prepare-work-root` (as root) creates the work root and hands it to the service's
 * user; `--docker-group` says which group the service will run with, to check the socket against it.
 */
import { chown, mkdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { dockerClient, type DockerClient } from './sandbox/docker/docker-client.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { dockerNetworkRanges } from './sandbox/docker/docker-network-ranges.js';
import type { ReadinessCheck } from './execution/sandbox-runner.js';
import { checkSandboxHost } from './sandbox/docker/host-checks.js';

function parseIds(value: string, flag: string): { uid: number; gid: number } {
  const match = /^(\d+):(\d+)$/.exec(value);
  if (!match) throw new Error(`${flag}: expected UID:GID, got "${value}"`);
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

async function prepareWorkRoot(
  workRoot: string,
  owner: { uid: number; gid: number },
): Promise<ReadinessCheck> {
  await mkdir(workRoot, { recursive: true, mode: 0o755 });
  await chown(workRoot, owner.uid, owner.gid);
  return { name: 'work root', ok: true, detail: `${workRoot} owned by ${owner.uid}:${owner.gid}` };
}

/** The service's user must be able to open the socket: through its group, since it is not root. */
async function checkSocketGroup(socket: string, serviceGid: number): Promise<ReadinessCheck> {
  const info = await stat(socket).catch(() => undefined);
  if (!info) return { name: 'docker socket', ok: false, detail: `${socket} does not exist (is it mounted?)` };
  const ok = info.gid === serviceGid || (info.mode & 0o006) === 0o006;
  return {
    name: 'docker socket',
    ok,
    detail: ok
      ? `${socket} group ${info.gid}`
      : `${socket} belongs to group ${info.gid}, the service runs with group ${serviceGid}: set DOCKER_GID=${info.gid} (stat -c %g ${socket} on the host)`,
  };
}

/**
 * Sandboxes get their job directories through bind mounts that dockerd resolves on the host, so the
 * work root must be mounted into this container at the very same path. Checked through docker's view
 * of this container; outside a container (or under another hostname) there is nothing to check.
 */
async function checkWorkRootMount(docker: DockerClient, workRoot: string): Promise<ReadinessCheck> {
  const self = await docker
    .getContainer(hostname())
    .inspect()
    .catch(() => undefined);
  if (!self) return { name: 'work root mount', ok: true, detail: 'not running in a container docker knows' };
  const mount = self.Mounts.find(
    (m) => workRoot === m.Destination || workRoot.startsWith(`${m.Destination}/`),
  );
  const ok = mount !== undefined && mount.Type === 'bind' && mount.Source === mount.Destination;
  return {
    name: 'work root mount',
    ok,
    detail: ok
      ? `${mount.Source} bound at the same path`
      : `${workRoot} must be a bind mount of the same host path (e.g. -v ${workRoot}:${workRoot}); found ${mount ? `${mount.Type} ${mount.Source ?? ''} -> ${mount.Destination}` : 'no mount'}`,
  };
}

/** A docker network named in SANDBOX_TRUSTED_NETWORKS must exist, or the service will not start. */
async function checkTrustedNetwork(docker: DockerClient, name: string): Promise<ReadinessCheck> {
  return dockerNetworkRanges(docker, name).then(
    ({ subnets, gateways }) => ({
      name: `trusted network ${name}`,
      ok: true,
      detail: `${subnets.map((s) => `${s.address}/${s.prefix}`).join(', ')} need no token (gateway ${gateways.map((g) => g.address).join(', ') || 'none'} excluded)`,
    }),
    (error: unknown) => ({
      name: `trusted network ${name}`,
      ok: false,
      detail: `${(error as Error).message}: start RAGFlow first, or set RAGFLOW_NETWORK to its network (docker network ls)`,
    }),
  );
}

async function preflight(config: Config, flags: { prepareWorkRoot?: string; dockerGroup?: string }) {
  const docker = dockerClient(config.dockerSocket);
  const checks: ReadinessCheck[] = [];
  if (flags.prepareWorkRoot) {
    checks.push(
      await prepareWorkRoot(config.workRoot, parseIds(flags.prepareWorkRoot, '--prepare-work-root')),
    );
  }
  if (flags.dockerGroup) {
    if (!/^\d+$/.test(flags.dockerGroup))
      throw new Error(`--docker-group: expected a number, got "${flags.dockerGroup}"`);
    checks.push(await checkSocketGroup(config.dockerSocket, Number(flags.dockerGroup)));
  }
  const host = await checkSandboxHost({
    docker,
    dockerSocket: config.dockerSocket,
    runtime: config.sandboxRuntime,
    images: config.images,
    egress: config.egress.ceiling.length > 0,
  });
  checks.push(...host);
  if (host[0]?.ok) {
    checks.push(await checkWorkRootMount(docker, config.workRoot));
    for (const entry of config.trustedNetworks) {
      if (entry.kind === 'docker-network') checks.push(await checkTrustedNetwork(docker, entry.name));
    }
  }
  return checks;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'prepare-work-root': { type: 'string' }, 'docker-group': { type: 'string' } },
  });
  const config = loadConfig(process.env);
  const checks = await preflight(config, {
    prepareWorkRoot: values['prepare-work-root'],
    dockerGroup: values['docker-group'],
  });
  for (const check of checks) {
    process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`);
  }
  const failed = checks.filter((check) => !check.ok).length;
  process.stdout.write(failed ? `preflight: ${failed} check(s) failed\n` : 'preflight: host ready\n');
  process.exitCode = failed ? 1 : 0;
}

main().catch((error: unknown) => {
  process.stderr.write(
    `preflight: ${error instanceof ConfigError ? error.message : ((error as Error).stack ?? String(error))}\n`,
  );
  process.exitCode = 1;
});
