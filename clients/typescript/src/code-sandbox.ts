import './dispose-symbol.js';
import {
  credentials,
  Metadata,
  type CallOptions,
  type Client,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { collectExecution } from './collect-execution.js';
import { DEFAULT_URL, parseEndpoint } from './endpoint.js';
import { errorFromGrpc } from './error-from-grpc.js';
import { withRetry, type RetryOptions } from './retry.js';
import { loadSandboxService } from './sandbox-proto.js';
import { Session } from './session.js';
import type { CreateSessionOptions, ExecutionResult, OutputOptions, RunOptions } from './types.js';
import {
  bytesOf,
  filesToWire,
  limitsToWire,
  packagesToWire,
  type WireEvent,
  type WireSession,
} from './wire.js';

/** Options of `new CodeSandbox(...)`. */
export interface CodeSandboxOptions {
  /**
   * The service's gRPC endpoint: `grpc://host:port` (plaintext), `grpcs://host:port` (TLS), bare
   * `host:port`, or `dns:///host:port` (one connection per address, balanced round robin). Default:
   * CODE_SANDBOX_URL, else 127.0.0.1:50051. Not the HTTP port (9385): that is the REST API.
   */
  url?: string;
  /** The server's SANDBOX_AUTH_TOKEN, sent as `authorization: Bearer`. Default: CODE_SANDBOX_TOKEN. */
  token?: string;
  /** Opt-in retry of calls refused for capacity, honouring the service's retry hint. Default: none. */
  retry?: RetryOptions;
  /** PEM root certificates for `grpcs://` (default: the system's). */
  rootCertificates?: string | Uint8Array;
  /**
   * Largest message the client accepts. One artifact is one message, and the service allows up to
   * 256 MiB (SANDBOX_MAX_ARTIFACT_BYTES): the default leaves room for that.
   */
  maxReceiveMessageBytes?: number;
  /** Environment to read CODE_SANDBOX_URL / CODE_SANDBOX_TOKEN from (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 264 * 1024 * 1024;
/** The metadata a session-routing proxy reads to send a session's calls to the replica that owns it. */
const SESSION_METADATA_KEY = 'sandbox-session-id';

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  options: CallOptions,
  callback: (error: ServiceError | null, response: unknown) => void,
) => { cancel(): void };
type StreamMethod = (request: unknown, metadata: Metadata) => ClientReadableStream<WireEvent>;

/**
 * A client of the code-sandbox service over gRPC. One instance holds one channel: share it, and call
 * `close()` when done.
 *
 * ```ts
 * const sandbox = new CodeSandbox({ url: 'grpc://localhost:50051', token });
 * const result = await sandbox.run('print(6 * 7)', { onStdout: (text) => process.stdout.write(text) });
 * ```
 */
export class CodeSandbox {
  private readonly client: Client;
  private readonly token: string | undefined;
  private readonly retry: RetryOptions | undefined;

  constructor(options: CodeSandboxOptions = {}) {
    const env = options.env ?? process.env;
    const endpoint = parseEndpoint(options.url ?? nonEmpty(env.CODE_SANDBOX_URL) ?? DEFAULT_URL);
    this.token = options.token ?? nonEmpty(env.CODE_SANDBOX_TOKEN);
    this.retry = options.retry;
    const channelCredentials = endpoint.tls
      ? credentials.createSsl(options.rootCertificates ? bytesOf(options.rootCertificates) : null)
      : credentials.createInsecure();
    const SandboxService = loadSandboxService();
    this.client = new SandboxService(endpoint.target, channelCredentials, {
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
      // Only takes effect with several addresses (dns:/// over a headless Service): spread the calls.
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    });
  }

  /**
   * Runs code in a fresh sandbox of its own and resolves with its result once it has ended; output is
   * passed to `onStdout`/`onStderr` as the program writes it. What the program does (fails, times
   * out, runs out of memory) is the result's `exitReason`; only calls the service refuses reject.
   */
  run(code: string, options: RunOptions = {}): Promise<ExecutionResult> {
    const entrypoint = options.entrypoint ?? (options.arguments ? 'main' : '');
    return this.execute(
      {
        language: options.language ?? 'python',
        code,
        stdin: options.stdin === undefined ? Buffer.alloc(0) : bytesOf(options.stdin),
        files: filesToWire(options.files),
        limits: limitsToWire(options.limits),
        entrypoint,
        arguments_json: options.arguments ? JSON.stringify(options.arguments) : '',
        network: options.network ? { allow: options.network.allow } : null,
        packages: packagesToWire(options.packages),
      },
      options,
    );
  }

  /** Starts a session: an interpreter kept alive between `session.run` calls, in a sandbox of its own. */
  async createSession(options: CreateSessionOptions = {}): Promise<Session> {
    const created = (await this.unary(
      'CreateSession',
      {
        language: options.language ?? 'python',
        limits: limitsToWire(options.limits),
        idle_timeout_ms: options.idleTimeoutMs ?? 0,
        files: filesToWire(options.files),
        network: options.network ? { allow: options.network.allow } : null,
        packages: packagesToWire(options.packages),
      },
      undefined,
      options.signal,
    )) as WireSession;
    return new Session(this, created);
  }

  /**
   * A session this or another client created earlier, by its id (no call is made: an unknown or ended
   * id is NotFoundError on first use).
   */
  session(sessionId: string): Session {
    return new Session(this, { session_id: sessionId });
  }

  /** Closes the channel. Calls still running fail with CANCELLED. */
  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal Runs ExecuteCode (a one-shot run, or a cell when `request.session_id` is set). */
  execute(request: Record<string, unknown>, options: OutputOptions): Promise<ExecutionResult> {
    const sessionId = typeof request.session_id === 'string' ? request.session_id : undefined;
    return withRetry(
      () => {
        options.signal?.throwIfAborted();
        const method = (this.client as unknown as Record<string, StreamMethod>).ExecuteCode!;
        const call = method.call(this.client, request, this.metadata(sessionId));
        return collectExecution(call, options);
      },
      this.retry,
      options.signal,
    );
  }

  /** @internal Runs a unary method, mapping its error and honouring the retry policy. */
  unary(
    method: string,
    request: Record<string, unknown>,
    sessionId: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const call = (this.client as unknown as Record<string, UnaryMethod>)[method]!;
    return withRetry(
      () =>
        new Promise((resolve, reject) => {
          signal?.throwIfAborted();
          const pending = call.call(this.client, request, this.metadata(sessionId), {}, (error, response) => {
            signal?.removeEventListener('abort', onAbort);
            if (error) reject(signal?.aborted ? signal.reason : errorFromGrpc(error));
            else resolve(response);
          });
          const onAbort = () => pending.cancel();
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      this.retry,
      signal,
    );
  }

  private metadata(sessionId: string | undefined): Metadata {
    const metadata = new Metadata();
    if (this.token) metadata.set('authorization', `Bearer ${this.token}`);
    if (sessionId) metadata.set(SESSION_METADATA_KEY, sessionId);
    return metadata;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
