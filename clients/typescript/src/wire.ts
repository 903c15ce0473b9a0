import type {
  Artifact,
  Display,
  EgressReport,
  InputFiles,
  InstallReport,
  Limits,
  ReturnValue,
} from './types.js';

/*
 * sandbox.v1 messages as proto-loader hands them over (keepCase, defaults, longs as numbers), and the
 * conversions between them and this SDK's camelCase types. Only the fields the SDK reads are typed.
 */

export interface WireLimits {
  timeout_ms: number;
  memory_bytes: number;
  cpu_millicores: number;
  max_processes: number;
  output_bytes: number;
}

export interface WireDisplay {
  kind: string;
  data: Record<string, Buffer>;
}

export interface WireArtifact {
  name: string;
  mime_type: string;
  size: number;
  content: Buffer;
}

export interface WireStarted {
  execution_id: string;
  sandbox_id: string;
  warm_start: boolean;
}

export interface WireEgress {
  requests: number;
  denied: number;
  bytes: number;
  denied_attempts: { host: string; port: number; reason: string }[];
}

export interface WireInstall {
  packages: string[];
  outcome: string;
  duration_ms: number;
  cache_hits: number;
  cache_misses: number;
  output: string;
}

export interface WireResult {
  execution_id: string;
  exit_code: number;
  exit_reason: string;
  duration_ms: number;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  queue_wait_ms: number;
  total_ms: number;
  detail: string;
  peak_memory_kb: number;
  limits: WireLimits | null;
  return_value: { present: boolean; value_json: string; type: string } | null;
  skipped_artifacts: { name: string; reason: string }[];
  signal: number;
  skipped_artifacts_total: number;
  egress: WireEgress | null;
  install?: WireInstall | null;
  session_id: string;
  execution_count: number;
  interpreter_restarted: boolean;
}

/** One ExecuteCodeResponse: exactly one of these is set (`event` names which). */
export interface WireEvent {
  event?: 'started' | 'stdout' | 'stderr' | 'result' | 'artifact' | 'display';
  started?: WireStarted;
  stdout?: { data: Buffer };
  stderr?: { data: Buffer };
  result?: WireResult;
  artifact?: WireArtifact;
  display?: WireDisplay;
}

export interface WireSession {
  session_id: string;
  language: string;
  limits: WireLimits | null;
  idle_timeout_ms: number;
  expires_at_ms: number;
  warm_start: boolean;
}

/** Limits for a request: 0 means "the server's default". */
export function limitsToWire(limits: Limits | undefined): WireLimits {
  return {
    timeout_ms: limits?.timeoutMs ?? 0,
    memory_bytes: limits?.memoryBytes ?? 0,
    cpu_millicores: limits?.cpuMillicores ?? 0,
    max_processes: limits?.maxProcesses ?? 0,
    output_bytes: limits?.outputBytes ?? 0,
  };
}

export function limitsFromWire(limits: WireLimits | null): Required<Limits> {
  return {
    timeoutMs: limits?.timeout_ms ?? 0,
    memoryBytes: limits?.memory_bytes ?? 0,
    cpuMillicores: limits?.cpu_millicores ?? 0,
    maxProcesses: limits?.max_processes ?? 0,
    outputBytes: limits?.output_bytes ?? 0,
  };
}

export function bytesOf(content: string | Uint8Array): Buffer {
  return typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
}

export function filesToWire(files: InputFiles | undefined): { path: string; content: Buffer }[] {
  if (!files) return [];
  const entries = Array.isArray(files)
    ? (files as ReadonlyArray<{ path: string; content: string | Uint8Array }>)
    : Object.entries(files as Record<string, string | Uint8Array>).map(([path, content]) => ({
        path,
        content,
      }));
  return entries.map(({ path, content }) => ({ path, content: bytesOf(content) }));
}

export function artifactFromWire(artifact: WireArtifact): Artifact {
  return { name: artifact.name, mimeType: artifact.mime_type, size: artifact.size, bytes: artifact.content };
}

export function displayFromWire(display: WireDisplay): Display {
  const data = { ...display.data };
  const text = (mimeType: string) => data[mimeType]?.toString('utf8');
  return {
    kind: display.kind,
    data,
    ...(data['text/plain'] ? { text: text('text/plain') } : {}),
    ...(data['text/html'] ? { html: text('text/html') } : {}),
    ...(data['image/png'] ? { png: data['image/png'] } : {}),
  };
}

export function returnValueFromWire(value: WireResult['return_value']): ReturnValue | undefined {
  if (!value?.present) return undefined;
  return { value: JSON.parse(value.value_json) as unknown, json: value.value_json, type: value.type };
}

export function egressFromWire(egress: WireEgress | null): EgressReport | undefined {
  if (!egress) return undefined;
  return {
    requests: egress.requests,
    denied: egress.denied,
    bytes: egress.bytes,
    deniedAttempts: egress.denied_attempts.map(({ host, port, reason }) => ({ host, port, reason })),
  };
}

export function installFromWire(install: WireInstall | null | undefined): InstallReport | undefined {
  if (!install) return undefined;
  return {
    packages: [...install.packages],
    outcome: install.outcome,
    durationMs: Number(install.duration_ms),
    cacheHits: install.cache_hits,
    cacheMisses: install.cache_misses,
    output: install.output,
  };
}

/** `packages` as the proto's Packages message (null when none). */
export function packagesToWire(packages: { python?: string[]; nodejs?: string[] } | undefined) {
  return packages ? { python: packages.python ?? [], nodejs: packages.nodejs ?? [] } : null;
}
