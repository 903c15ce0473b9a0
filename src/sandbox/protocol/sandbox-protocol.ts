import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../../config/package-root.js';

/**
 * The host side of sandbox-runtime/protocol.json, the one definition of the host ↔ sandbox contract
 * (frame types, paths, caps, shared messages, record field lists) that both launchers read too.
 * Everything a sandbox sends is parsed with the record schemas below; they are checked against the
 * file's field lists when it is loaded, so the two cannot drift apart silently.
 */
const protocolFileSchema = z.object({
  version: z.literal(1),
  frame_header_bytes: z.literal(8),
  frames: z.record(z.string(), z.int().min(1).max(255)),
  paths: z.object({
    job_dir: z.string(),
    work_dir: z.string(),
    artifacts_dir: z.string(),
    input_files_dir: z.string(),
    manifest: z.string(),
    stdin: z.string(),
    arguments: z.string(),
    egress_socket: z.string(),
  }),
  egress: z.object({ proxy_port: z.int().min(1).max(65535), no_proxy: z.string() }),
  /** Package installs: the install sandbox's paths and port, where the program finds what was installed. */
  packages: z.object({
    install_dir: z.string(),
    socket: z.string(),
    manifest: z.string(),
    port: z.int().min(1).max(65535),
    stage_dir: z.string(),
    out_dir: z.string(),
    python_dir: z.string(),
    nodejs_dir: z.string(),
  }),
  reserved_input_paths: z.array(z.string()),
  artifact_name_forbidden_characters: z.string(),
  caps: z.object({
    drain_after_exit_ms: z.int().positive(),
    boot_report_bytes: z.int().positive(),
    report_slack_bytes: z.int().positive(),
    artifact_name_bytes: z.int().positive(),
    artifact_name_depth: z.int().positive(),
    artifact_header_bytes: z.int().positive(),
    artifact_scan_entries: z.int().positive(),
    skipped_artifacts_listed: z.int().positive(),
    skipped_reason_bytes: z.int().positive(),
    return_value_depth: z.int().positive(),
    diagnostic_bytes: z.int().positive(),
    error_message_bytes: z.int().positive(),
  }),
  manifest: z.record(z.string(), z.string()),
  result: z.record(z.string(), z.string()),
  artifact_header: z.record(z.string(), z.string()),
  messages: z.record(z.string(), z.string()),
  /** Session launchers: their inbox, interrupt grace and record field lists (see session-frames.ts). */
  session: z.object({
    inbox_dir: z.string(),
    interrupt_grace_ms: z.int().positive(),
    bridge_socket: z.string().startsWith('/'),
    kernel_user: z.object({ uid: z.int().positive(), gid: z.int().positive() }),
    cell_result: z.record(z.string(), z.string()),
    display: z.record(z.string(), z.string()),
    reply_header: z.record(z.string(), z.string()),
  }),
});

export type SandboxProtocolFile = z.infer<typeof protocolFileSchema>;

/** Fills a protocol message template: "{max} bytes" with { max: 5 } → "5 bytes". */
export function formatProtocolMessage(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    key in values ? String(values[key]) : whole,
  );
}

/** Frame types by name. `ready` is sent once at boot; everything else belongs to a run. */
export interface FrameTypes {
  stdout: number;
  stderr: number;
  result: number;
  artifact: number;
  ready: number;
  /** Session launchers only. */
  display: number;
  reply: number;
}

/** Builds the record schemas for one protocol file (pure; `loadSandboxProtocol` reads the real one). */
export function sandboxProtocol(file: SandboxProtocolFile) {
  const { caps } = file;
  const text = (maxBytes: number) =>
    z.string().refine((value) => Buffer.byteLength(value) <= maxBytes, `longer than ${maxBytes} bytes`);
  const functionResult = z.union([
    z.null(),
    z.strictObject({ present: z.literal(true), value_json: z.string(), type: text(64) }),
    // The runners cut the message to error_message_bytes characters; room for UTF-8 and the template.
    z.strictObject({ error: text(caps.error_message_bytes * 4 + 1024) }),
  ]);
  const skippedArtifact = z.strictObject({
    // Names the launcher could not send may be unprintable: only their length is bounded here;
    // sandbox-session.ts makes them printable.
    name: text(caps.artifact_name_bytes * 4),
    reason: text(caps.skipped_reason_bytes),
  });
  const result = z.strictObject({
    nonce: z.string(),
    exit_code: z.int().min(0).max(255),
    signal: z.int().min(0).max(127),
    run_ms: z.number().nonnegative(),
    max_rss_kb: z.int().nonnegative(),
    mode: z.enum(['script', 'main']),
    // The runner reports it from inside the program's own process, so the program can forge it: a
    // malformed one is the program's error (parsed on its own with `functionResult`), not tampering.
    function_result: z.unknown(),
    skipped_artifacts: z.array(skippedArtifact).max(caps.skipped_artifacts_listed),
    skipped_artifacts_total: z.int().nonnegative(),
  });
  const artifactHeader = z.strictObject({
    nonce: z.string(),
    name: z.string(),
    size: z.int().nonnegative(),
  });
  const manifest = z.strictObject({
    entry: z.string(),
    files: z.array(z.string()),
    mode: z.enum(['script', 'main', 'auto']),
    artifacts: z.strictObject({ max_count: z.int().nonnegative(), max_bytes: z.int().nonnegative() }),
    max_result_bytes: z.int().positive(),
  });
  checkFields('result', result.shape, file.result);
  checkFields('artifact_header', artifactHeader.shape, file.artifact_header);
  checkFields('manifest', manifest.shape, file.manifest);
  const frames = file.frames as unknown as FrameTypes;
  for (const name of ['stdout', 'stderr', 'result', 'artifact', 'ready', 'display', 'reply'] as const) {
    if (typeof frames[name] !== 'number') throw new Error(`protocol.json: frames.${name} is missing`);
  }
  return Object.freeze({
    frames,
    paths: file.paths,
    egress: file.egress,
    packages: file.packages,
    caps,
    session: file.session,
    reservedInputPaths: file.reserved_input_paths,
    /** Characters no artifact name may contain (see artifact-name.ts). */
    artifactNameForbidden: new RegExp(file.artifact_name_forbidden_characters),
    /** A shared message, filled in: message('result_too_large', { max: 5 }). */
    message(name: string, values: Record<string, string | number> = {}): string {
      const template = file.messages[name];
      if (template === undefined) throw new Error(`protocol.json has no message "${name}"`);
      return formatProtocolMessage(template, values);
    },
    schemas: { result, functionResult, artifactHeader, manifest },
  });
}

export type SandboxProtocol = ReturnType<typeof sandboxProtocol>;
export type LauncherResult = z.infer<SandboxProtocol['schemas']['result']>;
export type FunctionResult = z.infer<SandboxProtocol['schemas']['functionResult']>;
export type JobManifest = z.infer<SandboxProtocol['schemas']['manifest']>;

export function checkFields(
  record: string,
  shape: Record<string, unknown>,
  listed: Record<string, string>,
): void {
  const inSchema = Object.keys(shape).sort().join(',');
  const inFile = Object.keys(listed).sort().join(',');
  if (inSchema !== inFile) {
    throw new Error(`protocol.json lists ${record} fields [${inFile}] but the host parses [${inSchema}]`);
  }
}

export const PROTOCOL_FILE = join(packageRoot(), 'sandbox-runtime', 'protocol.json');

/** Reads and checks sandbox-runtime/protocol.json; throws naming what is wrong. */
export function loadSandboxProtocol(path = PROTOCOL_FILE): SandboxProtocol {
  return sandboxProtocol(protocolFileSchema.parse(JSON.parse(readFileSync(path, 'utf8'))));
}

/**
 * The protocol this build ships: immutable data, read once at import like a JSON module, so that the
 * frame decoder's users and the job-directory writer need no extra plumbing.
 */
export const SANDBOX_PROTOCOL: SandboxProtocol = loadSandboxProtocol();
