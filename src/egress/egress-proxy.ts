import { chmod, rm } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { MAX_REPORTED_DENIALS, type DeniedEgress, type EgressReport } from '../domain/egress-report.js';
import { NO_EGRESS, type NetworkPolicy } from '../domain/network-policy.js';
import { checkDestination } from './destination-check.js';
import type { EgressChannel } from './egress-channel.js';
import type { EgressMetrics } from './egress-metrics.js';
import type { HostResolver } from './host-resolver.js';

/**
 * Caps per binding (a one-shot execution, or one cell of a session): one execution cannot use up the
 * proxy (sockets, bandwidth) for the others.
 */
export interface EgressCaps {
  /** Attempts (requests and tunnels) over the binding's whole life. */
  maxConnections: number;
  /** Attempts open at the same time in the sandbox, whichever binding opened them. */
  maxOpenConnections: number;
  /** Bytes relayed in both directions, all the binding's connections together. */
  maxBytes: number;
}

export interface EgressProxyOptions {
  socketPath: string;
  sandboxId: string;
  caps: EgressCaps;
  resolve: HostResolver;
  metrics: EgressMetrics;
  logger: Logger;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** A tunnel or request with no traffic either way for this long is cut. */
const IDLE_TIMEOUT_MS = 60_000;
const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * One `bind`: whose attempts these are, what they may reach, what they did. An attempt stays with the
 * binding it was admitted under, so a connection a session cell leaves open is still counted (and
 * audited) as that cell's after the next cell binds.
 */
interface Binding {
  executionId: string | undefined;
  policy: NetworkPolicy;
  requests: number;
  denied: number;
  bytes: number;
  deniedAttempts: DeniedEgress[];
}

function newBinding(executionId: string | undefined, policy: NetworkPolicy): Binding {
  return { executionId, policy, requests: 0, denied: 0, bytes: 0, deniedAttempts: [] };
}

/** One attempt between its admission and its end: what it has moved, and how to cut it. */
interface Attempt {
  binding: Binding;
  method: string;
  host: string;
  port: number;
  bytes: number;
  /** Both ends' sockets: destroyed when the attempt is cut. */
  sockets: Duplex[];
  ended: boolean;
  cutReason?: string;
}

type Admission =
  { ok: true; address: string; attempt: Attempt } | { ok: false; status: number; reason: string };

/**
 * The egress proxy of one sandbox: an HTTP forward proxy (absolute-URI requests for http://, CONNECT
 * tunnels for anything else, e.g. HTTPS) on a unix socket only that sandbox can reach. Every attempt
 * is checked against the policy of the current binding (a one-shot execution, or the cell of a session
 * running now; see EgressChannel.bind), counted against that binding's caps, and written as one audit
 * log line naming it; refusals are collected for its result.
 */
export class EgressProxy implements EgressChannel {
  private binding: Binding = newBinding(undefined, NO_EGRESS);
  private readonly server: Server;
  private readonly openSockets = new Set<Duplex>();
  private open = 0;
  private closed = false;

  constructor(private readonly options: EgressProxyOptions) {
    this.server = createServer({ requestTimeout: IDLE_TIMEOUT_MS, headersTimeout: CONNECT_TIMEOUT_MS });
    // A backstop for idle client connections; attempts themselves are capped (and audited) in admit().
    this.server.maxConnections = options.caps.maxOpenConnections * 2;
    this.server.on('connection', (socket: Socket) => this.track(socket));
    this.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      void this.forward(request, response);
    });
    this.server.on('connect', (request: IncomingMessage, client: Duplex, head: Buffer) => {
      void this.tunnel(request, client, head);
    });
    this.server.on('clientError', (_error, socket: Duplex) => socket.destroy());
  }

  get socketPath(): string {
    return this.options.socketPath;
  }

  /** Starts listening; the socket is world-writable because the sandbox user must connect to it. */
  async listen(): Promise<void> {
    await rm(this.options.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    await chmod(this.options.socketPath, 0o666);
  }

  bind(executionId: string, policy: NetworkPolicy): void {
    this.binding = newBinding(executionId, policy);
  }

  report(): EgressReport {
    const { requests, denied, bytes, deniedAttempts } = this.binding;
    return { requests, denied, bytes, deniedAttempts: [...deniedAttempts] };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const socket of this.openSockets) socket.destroy();
  }

  /** Absolute-URI request (`GET http://host/path`): plain HTTP, checked per request. */
  private async forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { binding } = this;
    binding.requests += 1;
    let target: URL;
    try {
      target = new URL(request.url ?? '');
    } catch {
      const reason = 'this is a forward proxy: send an absolute URI (http://host/…)';
      this.recordDenied(binding, request.method ?? '', '', 0, reason);
      return this.refuse(response, 400, reason);
    }
    if (target.protocol !== 'http:') {
      const reason = `${target.protocol} URIs go through CONNECT (set HTTPS_PROXY)`;
      this.recordDenied(binding, request.method ?? '', target.hostname, 0, reason);
      return this.refuse(response, 400, reason);
    }
    const port = target.port === '' ? 80 : Number(target.port);
    const method = request.method ?? 'GET';
    const admission = await this.admit(binding, method, target.hostname, port);
    if (!admission.ok) return this.refuse(response, admission.status, admission.reason);
    const { attempt, address } = admission;

    const upstream = httpRequest({
      host: address,
      port,
      method,
      path: `${target.pathname}${target.search}`,
      headers: withoutHopByHop(request.headers, target.host),
      setHost: false,
      agent: false,
    });
    this.attach(attempt, request.socket);
    upstream.setTimeout(IDLE_TIMEOUT_MS, () => this.cut(attempt, 'timed out'));
    upstream.on('socket', (socket: Socket) => this.attach(attempt, socket));
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(`egress to ${attempt.host}:${port} failed: ${error.code ?? error.message}\n`);
      this.finish(attempt);
    });
    upstream.on('response', (upstreamResponse: IncomingMessage) => {
      response.writeHead(
        upstreamResponse.statusCode ?? 502,
        upstreamResponse.statusMessage,
        withoutHopByHop(upstreamResponse.headers),
      );
      this.meter(attempt, upstreamResponse, response);
    });
    response.on('close', () => {
      upstream.destroy();
      this.finish(attempt);
    });
    this.meter(attempt, request, upstream);
  }

  /** CONNECT host:port: a byte tunnel (TLS passes through untouched; the name checked is the one asked for). */
  private async tunnel(request: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const { binding } = this;
    binding.requests += 1;
    this.track(client);
    const authority = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(request.url ?? '');
    if (!authority) {
      this.recordDenied(binding, 'CONNECT', '', 0, 'CONNECT needs host:port');
      return this.refuseTunnel(client, 400, 'CONNECT needs host:port');
    }
    const [, host = '', portText = ''] = authority;
    const admission = await this.admit(binding, 'CONNECT', host, Number(portText));
    if (!admission.ok) return this.refuseTunnel(client, admission.status, admission.reason);
    const { attempt, address } = admission;

    const upstream = connect({ host: address, port: attempt.port });
    this.attach(attempt, client, upstream);
    upstream.setTimeout(CONNECT_TIMEOUT_MS, () => this.cut(attempt, 'timed out'));
    upstream.once('connect', () => {
      upstream.setTimeout(IDLE_TIMEOUT_MS);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0 && this.count(attempt, head.length)) upstream.write(head);
      this.meter(attempt, client, upstream);
      this.meter(attempt, upstream, client);
    });
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      if (upstream.connecting) this.refuseTunnel(client, 502, `connection failed (${error.code ?? 'error'})`);
      this.finish(attempt);
    });
    upstream.once('close', () => {
      client.end();
      this.finish(attempt);
    });
    client.once('close', () => {
      upstream.destroy();
      this.finish(attempt);
    });
  }

  /**
   * Counts an attempt and decides it: caps first (no DNS work for an execution over its caps), then the
   * policy. A refusal is audited here; an admitted attempt is audited when it ends, with its bytes.
   */
  private async admit(binding: Binding, method: string, host: string, port: number): Promise<Admission> {
    const { caps, metrics } = this.options;
    this.open += 1;
    let refusal: { status: number; reason: string } | undefined;
    if (this.closed) refusal = { status: 503, reason: 'the execution has ended' };
    else if (binding.requests > caps.maxConnections) {
      refusal = {
        status: 429,
        reason: `more than ${caps.maxConnections} egress connections in this execution`,
      };
    } else if (this.open > caps.maxOpenConnections) {
      refusal = {
        status: 429,
        reason: `more than ${caps.maxOpenConnections} egress connections open at once`,
      };
    } else if (binding.bytes >= caps.maxBytes) {
      refusal = { status: 429, reason: `egress byte cap of ${caps.maxBytes} reached` };
    }
    let normalizedHost = host;
    let address = '';
    if (!refusal) {
      const decision = await checkDestination(binding.policy, host, port, this.options.resolve);
      normalizedHost = decision.host;
      if (decision.allowed) address = decision.address;
      else refusal = { status: 403, reason: decision.reason };
    }
    if (refusal) {
      this.open -= 1;
      this.recordDenied(binding, method, normalizedHost, port, refusal.reason);
      return { ok: false, ...refusal };
    }
    metrics.egressRequest('allowed');
    const attempt: Attempt = {
      binding,
      method,
      host: normalizedHost,
      port,
      bytes: 0,
      sockets: [],
      ended: false,
    };
    return { ok: true, address, attempt };
  }

  /** Copies `from` into `to`, counting every byte against the execution's cap, with backpressure. */
  private meter(attempt: Attempt, from: Readable, to: Writable): void {
    from.on('data', (chunk: Buffer) => {
      if (!this.count(attempt, chunk.length)) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.once('end', () => to.end());
  }

  /** Adds to the byte counts; false (and the attempt cut) once the execution's byte cap is passed. */
  private count(attempt: Attempt, bytes: number): boolean {
    attempt.bytes += bytes;
    attempt.binding.bytes += bytes;
    if (attempt.binding.bytes <= this.options.caps.maxBytes) return true;
    this.cut(attempt, `egress byte cap of ${this.options.caps.maxBytes} reached; connection cut`);
    return false;
  }

  private cut(attempt: Attempt, reason: string): void {
    if (attempt.ended) return;
    attempt.cutReason = reason;
    noteDenied(attempt.binding, { host: attempt.host, port: attempt.port, reason });
    this.finish(attempt);
    for (const socket of attempt.sockets) socket.destroy();
  }

  /** A refused attempt: counted, kept for the result, audited. */
  private recordDenied(binding: Binding, method: string, host: string, port: number, reason: string): void {
    binding.denied += 1;
    this.options.metrics.egressRequest('denied');
    noteDenied(binding, { host: host.slice(0, 255), port, reason });
    this.audit(binding, { method, host: host.slice(0, 255), port, decision: 'denied', reason, bytes: 0 });
  }

  /** Ends an attempt once: frees its slot and writes its audit line. */
  private finish(attempt: Attempt): void {
    if (attempt.ended) return;
    attempt.ended = true;
    this.open -= 1;
    this.audit(attempt.binding, {
      method: attempt.method,
      host: attempt.host,
      port: attempt.port,
      decision: 'allowed',
      bytes: attempt.bytes,
      ...(attempt.cutReason ? { reason: attempt.cutReason } : {}),
    });
  }

  private attach(attempt: Attempt, ...sockets: Duplex[]): void {
    for (const socket of sockets) {
      attempt.sockets.push(socket);
      this.track(socket);
      socket.on('error', () => undefined); // the attempt's own handlers settle it; never crash on these
    }
  }

  private track(socket: Duplex): void {
    if (this.openSockets.has(socket)) return;
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.openSockets.add(socket);
    socket.once('close', () => this.openSockets.delete(socket));
  }

  /**
   * The audit trail: exactly one line per attempt, naming the execution (or session cell) bound when
   * it was made; the sandbox is known by the socket it came in on.
   */
  private audit(binding: Binding, entry: Record<string, unknown>): void {
    this.options.logger.info(
      { executionId: binding.executionId, sandboxId: this.options.sandboxId, egress: entry },
      'egress',
    );
  }

  private refuse(response: ServerResponse, status: number, reason: string): void {
    response.writeHead(status, { 'content-type': 'text/plain', 'x-sandbox-egress': 'denied' });
    response.end(`egress denied: ${reason}\n`);
  }

  private refuseTunnel(client: Duplex, status: number, reason: string): void {
    const body = `egress denied: ${reason}\n`;
    client.end(
      `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Refused'}\r\n` +
        `Content-Type: text/plain\r\nX-Sandbox-Egress: denied\r\nConnection: close\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
}

function noteDenied(binding: Binding, denied: DeniedEgress): void {
  if (binding.deniedAttempts.length < MAX_REPORTED_DENIALS) binding.deniedAttempts.push(denied);
}

function withoutHopByHop(
  headers: IncomingMessage['headers'],
  host?: string,
): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP_HEADERS.has(name)) kept[name] = value;
  }
  if (host !== undefined) kept.host = host;
  return kept;
}
