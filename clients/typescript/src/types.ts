/** A language the service runs. */
export type Language = 'python' | 'nodejs';

/**
 * Resource limits. A field left out takes the server's default; a value above the server's ceiling
 * is lowered to it (the limits in force come back in the result).
 */
export interface Limits {
  /** Wall-clock time for the run (or the cell). Past it: exitReason "timeout". */
  timeoutMs?: number;
  /** Memory for the whole sandbox. Past it: exitReason "oom". */
  memoryBytes?: number;
  /** CPU share in thousandths of a core. */
  cpuMillicores?: number;
  /** Processes and threads at once. */
  maxProcesses?: number;
  /** Bytes kept of each of stdout and stderr. Past it: exitReason "output_limit". */
  outputBytes?: number;
}

/** Files placed in the working directory: `{ "data/in.csv": "a,b\n" }` or `[{ path, content }]`. */
export type InputFiles =
  | Readonly<Record<string, string | Uint8Array>>
  | ReadonlyArray<{ path: string; content: string | Uint8Array }>;

/** Hosts the code may reach through the service's egress proxy; absent means no network at all. */
export interface NetworkPolicy {
  /** "host[:port]", "*.example.com", an IP literal; each must be within the server's allowlist. */
  allow: string[];
}

/**
 * Packages to install before the code runs, from the operator's index and allowlist (the server's
 * docs/packages.md): `{ python: ["pymysql==1.1.1"] }`, `{ nodejs: ["lodash@4.17.21"] }`.
 */
export interface Packages {
  python?: string[];
  nodejs?: string[];
}

/** What installing `packages` did. */
export interface InstallReport {
  packages: string[];
  /** "ok", "failed", "timeout" or "too_large"; anything but "ok" makes the exitReason "install_error". */
  outcome: string;
  durationMs: number;
  cacheHits: number;
  cacheMisses: number;
  /** pip's or npm's output and the package mirror's refusals (the last 64 KiB). */
  output: string;
}

/** Why a program ended. New reasons may appear; treat unknown ones like "error". */
export type ExitReason =
  | 'ok'
  | 'error'
  | 'timeout'
  | 'oom'
  | 'output_limit'
  | 'cancelled'
  | 'sandbox_error'
  | 'install_error'
  | (string & {});

/** A file the program left under artifacts/ in its working directory. */
export interface Artifact {
  /** Path relative to artifacts/, e.g. "plot.png"; always safe to save under. */
  name: string;
  mimeType: string;
  size: number;
  bytes: Uint8Array;
}

/** Rich output of a session cell, as in Jupyter: one output in several representations. */
export interface Display {
  /** "execute_result" (the value of the cell's last expression) or "display_data" (display(), plots). */
  kind: string;
  /** MIME type → content: UTF-8 for text types, the file itself for images ("image/png"). */
  data: Record<string, Uint8Array>;
  /** `text/plain`, decoded. */
  text?: string;
  /** `text/html`, decoded. */
  html?: string;
  /** `image/png`: the PNG file's bytes. */
  png?: Uint8Array;
}

/** What main() returned (entrypoint "main" or "auto"). */
export interface ReturnValue {
  /** Parsed from `json`. */
  value: unknown;
  /** The value as JSON text, exactly as the program returned it. */
  json: string;
  /** Its type in the program's language: "dict", "list", "str", "object", "number", "null", … */
  type: string;
}

/** What went through the execution's egress proxy (absent when the server allows no egress). */
export interface EgressReport {
  requests: number;
  denied: number;
  bytes: number;
  deniedAttempts: { host: string; port: number; reason: string }[];
}

/** The outcome of one run or one session cell. */
export interface ExecutionResult {
  executionId: string;
  /** "ok" when the program exited 0; see ExitReason. */
  exitReason: ExitReason;
  exitCode: number;
  /** Signal that ended the program (9 when the service killed it, 2 for an interrupted cell); 0 if none. */
  signal: number;
  /** Explanation for anything but "ok"/"error", e.g. "timed out after 2000 ms". */
  detail: string;
  /** Everything the program wrote, decoded as UTF-8. */
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** main()'s return value, when it was called and returned. */
  returnValue?: ReturnValue;
  artifacts: Artifact[];
  /** Artifacts a cap kept out, with the reason (the first 100; `skippedArtifactsTotal` counts all). */
  skippedArtifacts: { name: string; reason: string }[];
  skippedArtifactsTotal: number;
  /** Session cells: the value of the last expression and everything displayed, in order. */
  displays: Display[];
  /** Session cells: the value of the last expression as text (its execute_result's text/plain). */
  text?: string;
  durationMs: number;
  queueWaitMs: number;
  totalMs: number;
  /** Peak resident memory of the program's process in KiB; 0 if unknown. */
  peakMemoryKb: number;
  /** The limits that were in force. */
  limits: Required<Limits>;
  egress?: EgressReport;
  /** Present when the run asked for `packages`. */
  install?: InstallReport;
  /** The sandbox container's label, and whether a pre-started sandbox ran it. */
  sandboxId: string;
  warmStart: boolean;
  /** Session cells: the session, the interpreter's cell counter, and whether it had to be restarted. */
  sessionId?: string;
  executionCount?: number;
  interpreterRestarted: boolean;
}

/** Live output and cancellation, for a run or a cell. */
export interface OutputOptions {
  /** Called with each piece of stdout as the program writes it (whole UTF-8 characters), before the result. */
  onStdout?(text: string): void;
  onStderr?(text: string): void;
  /** Session cells: called with each display as it arrives. */
  onDisplay?(display: Display): void;
  /** Aborting kills the sandbox (a session cell is interrupted, the session stays) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `CodeSandbox.run`. */
export interface RunOptions extends OutputOptions {
  /** Default "python". */
  language?: Language;
  files?: InputFiles;
  limits?: Limits;
  network?: NetworkPolicy;
  /** Installed before the code runs; the install's time comes out of `limits.timeoutMs`. */
  packages?: Packages;
  /** What the program reads on stdin. */
  stdin?: string | Uint8Array;
  /**
   * "script" runs the code; "main" calls its main() with `arguments` and returns its value; "auto" is
   * "main" when the code defines one. Default: "main" when `arguments` is given, else "script".
   */
  entrypoint?: 'script' | 'main' | 'auto';
  /** Arguments for main(): Python `main(**arguments)`, Node.js `main(arguments)`. */
  arguments?: Record<string, unknown>;
}

/** Options of `Session.run`: of the limits, a cell has only its own timeout and output cap. */
export interface CellOptions extends OutputOptions {
  timeoutMs?: number;
  outputBytes?: number;
}

/** Options of `CodeSandbox.createSession`. */
export interface CreateSessionOptions {
  /** Default "python" (a Jupyter kernel); "nodejs" is a persistent context. */
  language?: Language;
  /** Memory, CPU and processes for the whole session; timeoutMs and outputBytes are its cells' defaults. */
  limits?: Limits;
  /** Close the session after this long without a call (server default and ceiling: 10 minutes). */
  idleTimeoutMs?: number;
  files?: InputFiles;
  /** Hosts the session's code may reach, for its whole life. */
  network?: NetworkPolicy;
  /** Installed before the session is handed out; cells install more with `%pip install` / `%npm install`. */
  packages?: Packages;
  signal?: AbortSignal;
}

/** A file in a session's working directory. */
export interface SessionFile {
  path: string;
  size: number;
}

/** A file read from a session. */
export interface DownloadedFile extends SessionFile {
  mimeType: string;
  bytes: Uint8Array;
}
