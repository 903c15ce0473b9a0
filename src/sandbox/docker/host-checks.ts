import type Docker from 'dockerode';
import type { Language } from '../../domain/languages.js';
import type { ReadinessCheck } from '../../execution/sandbox-runner.js';
import { dockerMessage } from './docker-errors.js';

export interface SandboxHostOptions {
  docker: Docker;
  dockerSocket: string;
  runtime: string;
  images: Readonly<Record<Language, string>>;
  /** Egress is on: sandboxes must be able to connect to their proxy's unix socket. */
  egress: boolean;
}

/**
 * What the host must provide before any sandbox can start: dockerd reachable, the runtime registered
 * in it, the sandbox images present. Failed checks say what an operator must do about them; /readyz,
 * grpc.health.v1 and the start-up preflight all report these same checks.
 */
/** A runtime as `docker info` lists it. */
interface RuntimeRegistration {
  path?: string;
  runtimeArgs?: string[];
}

export async function checkSandboxHost(options: SandboxHostOptions): Promise<ReadinessCheck[]> {
  const { docker, dockerSocket, runtime, images } = options;
  let info: { Runtimes?: Record<string, RuntimeRegistration | undefined> };
  try {
    info = (await docker.info()) as typeof info;
  } catch (error) {
    return [
      {
        name: 'docker',
        ok: false,
        detail: `not reachable at ${dockerSocket}: ${dockerMessage(error)} (is dockerd running, and may this user open its socket?)`,
      },
    ];
  }
  const registered = Boolean(info.Runtimes?.[runtime]);
  const checks: ReadinessCheck[] = [
    { name: 'docker', ok: true, detail: 'reachable' },
    {
      name: 'runtime',
      ok: registered,
      detail: registered
        ? `${runtime} registered`
        : `${runtime} is not registered in dockerd: add it under "runtimes" in /etc/docker/daemon.json (npm run setup does) and reload dockerd`,
    },
  ];
  const registration = info.Runtimes?.[runtime];
  if (registered && options.egress && /(^|\/)runsc$/.test(registration?.path ?? '')) {
    checks.push(hostUdsCheck(runtime, registration));
  }
  for (const [language, image] of Object.entries(images)) {
    try {
      await docker.getImage(image).inspect();
      checks.push({ name: `image:${language}`, ok: true, detail: image });
    } catch (error) {
      checks.push({
        name: `image:${language}`,
        ok: false,
        detail: `${image}: ${dockerMessage(error)} (build it with npm run setup, or scripts/build-sandbox-images.sh)`,
      });
    }
  }
  return checks;
}

/**
 * runsc refuses a sandbox's connect() to a host unix socket unless registered with --host-uds=open
 * (or all); without it every egress attempt fails inside the sandbox, so say so up front.
 */
function hostUdsCheck(runtime: string, registration: RuntimeRegistration | undefined): ReadinessCheck {
  const args = registration?.runtimeArgs ?? [];
  const ok = args.some((arg) => /^--?host-uds=(open|all)$/.test(arg));
  return {
    name: 'egress',
    ok,
    detail: ok
      ? `${runtime} lets sandboxes reach their egress proxy socket (--host-uds)`
      : `egress is enabled but ${runtime} is not registered with --host-uds=open: add it to its runtimeArgs in /etc/docker/daemon.json (npm run setup does) and reload dockerd`,
  };
}
