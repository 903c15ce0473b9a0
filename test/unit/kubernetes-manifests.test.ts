import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { isSessionId, newSessionId } from '../../src/session/session-id.js';

/**
 * Structure of deploy/kubernetes: every object well-formed, and the pieces that must agree (labels,
 * ports, probes, paths, configuration names) agree. No cluster here, so this is what can be checked.
 */
const DIR = 'deploy/kubernetes';
/** The session router's maps for this StatefulSet (nginx, see docs/operating.md "Sessions behind several replicas"). */
const ROUTER_DIR = 'deploy/nginx/kubernetes-example';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
// The manifests are untyped YAML: field access below is checked by the assertions, not the compiler.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

/** The stable API version of each kind used (none of them beta or deprecated). */
const API_VERSIONS: Record<string, string> = {
  Namespace: 'v1',
  ConfigMap: 'v1',
  Service: 'v1',
  StatefulSet: 'apps/v1',
  RuntimeClass: 'node.k8s.io/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  PodDisruptionBudget: 'policy/v1',
};

/** "512Mi" / "1Gi" in MiB (the only forms these manifests use). */
function mebibytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  expect(match, quantity).not.toBeNull();
  return Number(match![1]) * (match![2] === 'Gi' ? 1024 : 1);
}

const files = readdirSync(DIR).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
const objects: K8sObject[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((document) => {
    expect(document.errors, file).toEqual([]);
    return document.toJS() as K8sObject;
  }),
);
const one = (kind: string, name?: string): Any => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0];
};

const statefulSet = one('StatefulSet');
const pod = statefulSet.spec.template.spec;
const main = pod.containers.find((c: Any) => c.name === 'code-sandbox');
const configMap = one('ConfigMap');
const settings = configMap.data as Record<string, string>;

describe('Kubernetes manifests', () => {
  it('are well-formed objects, namespaced where they should be, all listed in the kustomization', () => {
    const clusterScoped = new Set(['Namespace', 'RuntimeClass']);
    for (const o of objects) {
      expect(o.apiVersion, o.kind).toBe(API_VERSIONS[o.kind]);
      expect(o.metadata.name, o.kind).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      if (!clusterScoped.has(o.kind))
        expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('code-sandbox');
    }
    const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS();
    expect([...kustomization.resources].sort()).toEqual([...files].sort());
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        'ConfigMap',
        'StatefulSet',
        'Namespace',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'RuntimeClass',
        'Service',
        'Service',
      ].sort(),
    );
  });

  it('has a RuntimeClass "gvisor" for runsc whose node label the StatefulSet requires', () => {
    const runtimeClass = one('RuntimeClass', 'gvisor');
    expect(runtimeClass.handler).toBe('runsc');
    expect(pod.nodeSelector).toEqual(runtimeClass.scheduling.nodeSelector);
  });

  it('selects the same pods everywhere: StatefulSet, Services, NetworkPolicy, PodDisruptionBudget', () => {
    const labels = statefulSet.spec.template.metadata.labels;
    expect(labels).toMatchObject(statefulSet.spec.selector.matchLabels);
    for (const service of objects.filter((o) => o.kind === 'Service') as Any[]) {
      expect(labels).toMatchObject(service.spec.selector);
    }
    expect(labels).toMatchObject(one('NetworkPolicy').spec.podSelector.matchLabels);
    expect(labels).toMatchObject(one('PodDisruptionBudget').spec.selector.matchLabels);
  });

  it('agrees on ports: container ports are the configured ones, Services and NetworkPolicy use them', () => {
    const portByName = Object.fromEntries(main.ports.map((p: Any) => [p.name, p.containerPort]));
    expect(portByName).toEqual({
      http: Number(settings.SANDBOX_HTTP_PORT),
      grpc: Number(settings.SANDBOX_GRPC_PORT),
    });
    for (const service of objects.filter((o) => o.kind === 'Service') as Any[]) {
      for (const port of service.spec.ports) expect(Object.keys(portByName)).toContain(port.targetPort);
    }
    const allowed = one('NetworkPolicy').spec.ingress.flatMap((rule: Any) =>
      rule.ports.map((p: Any) => p.port),
    );
    expect(new Set(allowed)).toEqual(new Set(Object.values(portByName)));
    expect(one('NetworkPolicy').spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it("names its pods stably behind a headless Service, so a session router can reach each session's owner", () => {
    const namespace = statefulSet.metadata.namespace;
    const headless = one('Service', statefulSet.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(statefulSet.spec.template.metadata.labels).toMatchObject(headless.spec.selector);
    const headlessPorts = Object.fromEntries(headless.spec.ports.map((p: Any) => [p.targetPort, p.port]));
    expect(headlessPorts).toEqual({
      http: Number(settings.SANDBOX_HTTP_PORT),
      grpc: Number(settings.SANDBOX_GRPC_PORT),
    });
    // The pod name is the instance id, which begins every session id the pod hands out.
    const instanceId = main.env.find((e: Any) => e.name === 'SANDBOX_INSTANCE_ID');
    expect(instanceId.valueFrom.fieldRef).toEqual({ fieldPath: 'metadata.name' });
    expect(statefulSet.spec.volumeClaimTemplates).toBeUndefined();
    const podNames = [0, 1, 9, 123].map((ordinal) => `${statefulSet.metadata.name}-${ordinal}`);
    for (const podName of podNames) expect(isSessionId(newSessionId(podName)), podName).toBe(true);
    // Each router map has one nginx regex line: owner name -> that pod's DNS name on the right port.
    for (const [file, port] of [
      ['owners-http.map', headlessPorts.http],
      ['owners-grpc.map', headlessPorts.grpc],
    ] as const) {
      const lines = readFileSync(join(ROUTER_DIR, file), 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('#'));
      expect(lines, file).toHaveLength(1);
      const [, pattern, target] = /^"~(.+)"\s+(\S+);$/.exec(lines[0]!) ?? [];
      expect(pattern, file).toBeDefined();
      const owner = new RegExp(pattern!);
      for (const podName of podNames) {
        const match = owner.exec(podName);
        expect(match, `${file} ${podName}`).not.toBeNull();
        const resolved = target!.replace(/\$(\w+)/g, (_all, name: string) => match!.groups![name]!);
        expect(resolved).toBe(`${podName}.${headless.metadata.name}.${namespace}.svc.cluster.local:${port}`);
      }
      expect(owner.test('other-app-0'), file).toBe(false);
    }
    // Calls without a session go to any pod, through the ClusterIP Service.
    const cluster = one('Service', 'code-sandbox');
    expect(cluster.spec.clusterIP).toBeUndefined();
    const upstreams = readFileSync(join(ROUTER_DIR, 'upstreams.conf'), 'utf8');
    for (const port of [settings.SANDBOX_HTTP_PORT, settings.SANDBOX_GRPC_PORT]) {
      expect(upstreams).toContain(`server ${cluster.metadata.name}.${namespace}.svc.cluster.local:${port};`);
    }
  });

  it('probes liveness on /healthz and readiness on /readyz over the http port', () => {
    expect(main.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(main.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(main.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
  });

  it('sets resource requests on every container, never above the memory limit', () => {
    for (const container of [...pod.initContainers, ...pod.containers]) {
      expect(container.resources.requests.cpu, container.name).toBeDefined();
      expect(container.resources.requests.memory, container.name).toBeDefined();
      expect(mebibytes(container.resources.requests.memory)).toBeLessThanOrEqual(
        mebibytes(container.resources.limits.memory),
      );
    }
    // Room for the sandboxes, which run outside the pod: at least concurrency x memory ceiling, plus
    // every open session at its memory (the ceiling caps a session's default).
    const config = loadConfig({ ...settings, SANDBOX_AUTH_TOKEN: 'a-token-of-sixteen-chars' });
    const sandboxesMiB =
      (config.concurrency * config.limitCeilings.memoryBytes +
        config.maxSessions * config.sessionDefaultLimits.memoryBytes) /
      2 ** 20;
    expect(mebibytes(main.resources.requests.memory)).toBeGreaterThan(sandboxesMiB);
    expect(Number(main.resources.requests.cpu)).toBeGreaterThanOrEqual(Number(settings.SANDBOX_CONCURRENCY));
  });

  it('runs the service unprivileged: non-root uid, no capabilities, read-only root, no escalation', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(main.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const [preflight] = pod.initContainers;
    expect(preflight.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['CHOWN'] });
    expect(preflight.command).toContain('dist/src/preflight.js');
    // The preflight checks the socket against the group the service really runs with.
    expect(preflight.command.at(-1)).toBe(String(pod.securityContext.supplementalGroups[0]));
    expect(preflight.image).toBe(main.image);
  });

  it('mounts the docker socket and the work root at the paths the configuration names, work root at its host path', () => {
    const volumes = Object.fromEntries(pod.volumes.map((v: Any) => [v.name, v.hostPath]));
    for (const container of [...pod.initContainers, ...pod.containers]) {
      const mounts = Object.fromEntries(container.volumeMounts.map((m: Any) => [m.name, m.mountPath]));
      expect(mounts['docker-socket'], container.name).toBe(settings.SANDBOX_DOCKER_SOCKET);
      expect(mounts['work-root'], container.name).toBe(settings.SANDBOX_WORK_ROOT);
    }
    expect(volumes['docker-socket']).toEqual({ path: settings.SANDBOX_DOCKER_SOCKET, type: 'Socket' });
    expect(volumes['work-root'].path).toBe(settings.SANDBOX_WORK_ROOT);
  });

  it('gives the service a configuration it accepts (names and values), with the token from the Secret', () => {
    const fromSecret = main.env.find((e: Any) => e.name === 'SANDBOX_AUTH_TOKEN').valueFrom.secretKeyRef;
    expect(fromSecret).toEqual({ name: 'code-sandbox-auth', key: 'token' });
    expect(main.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
    const config = loadConfig({
      ...settings,
      SANDBOX_AUTH_TOKEN: 'a-token-of-sixteen-chars',
      SANDBOX_INSTANCE_ID: 'code-sandbox-7d9f8-x2k9p',
    });
    expect(config.host).toBe('0.0.0.0');
    expect(config.limitCeilings.memoryBytes).toBe(Number(settings.SANDBOX_MAX_MEMORY_BYTES));
    // The StatefulSet's drain window covers the service's own grace period.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdownGraceMs);
  });
});
