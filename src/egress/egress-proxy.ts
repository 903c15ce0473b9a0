import { chmod, rm } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { MAX_REPORTED_DENIALS, type DeniedEgress, type EgressReport } from '../domain/egress-report.js';
import { NO_EGRESS, type NetworkPolicy } from '../domain/network-policy.js';
import { boundedResolver } from './bounded-resolver.js';
import { checkDestination } from './destination-check.js';
import type { EgressChannel } from './egress-channel.js';
import type { EgressMetrics } from './egress-metrics.js';
import type { HostResolver } from './host-resolver.js';
import { MeteredSocket, type ByteDirection } from './metered-socket.js';
import { parseAbsoluteTarget, parseConnectTarget } from './request-target.js';

/**
 * Caps per binding (a one-shot execution, or one cell of a session): one execution cannot use up the
 * proxy (sockets, bandwidth) for the others.
 */
export interface EgressCaps {
  /** Attempts (requests and tunnels) over the binding's whole life. */
  maxConnections: number;
  /** Attempts open at the same time in the sandbox, whichever binding opened them. */
  maxOpenConnections: number;
  /**
   * Bytes crossing the upstream connections in both directions, all the binding's connections
   * together: request lines, headers and framing count as much as bodies.
   */
  maxBytes: number;
}

/** Opens the TCP connection to a checked address and port. */
export type Dialer = (address: string, port: number) => Socket;

export interface EgressProxyOptions {
  socketPath: string;
  sandboxId: string;
  caps: EgressCaps;
  resolve: HostResolver;
  metrics: EgressMetrics;
  logger: Logger;
  /** net.connect unless given: tests pass one that refuses anything but loopback. */
  dial?: Dialer;
  /** How long a destination's name may take to resolve; RESOLVE_TIMEOUT_MS unless given. */
  resolveTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** A name not resolved by then is refused: a program choosing names whose servers never answer gets no more. */
const RESOLVE_TIMEOUT_MS = 5_000;
/**
 * Lookups one sandbox runs at once (more wait their turn): each may hold a resolver thread, and those
 * are the service's (see EgressGateway).
 */
const MAX_LOOKUPS_PER_SANDBOX = 1;
/** A tunnel or request with no traffic either way for this long is cut. */
const IDLE_TIMEOUT_MS = 60_000;
const MAX_AUDITED_PATH = 512;
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
  /** A write was refused for the byte cap: nothing more fits, even when `bytes` is still below it. */
  capReached: boolean;
  /**
   * One refusal past the attempt cap has been audited and kept: later ones are only counted, so a
   * program looping on refused requests costs no log line each.
   */
  pastCapAudited: boolean;
  deniedAttempts: DeniedEgress[];
}

function newBinding(executionId: string | undefined, policy: NetworkPolicy): Binding {
  return {
    executionId,
    policy,
    requests: 0,
    denied: 0,
    bytes: 0,
    capReached: false,
    pastCapAudited: false,
    deniedAttempts: [],
  };
}

/** One attempt between its admission and its end: what it has moved, and how to cut it. */
interface Attempt {
  binding: Binding;
  method: string;
  host: string;
  port: number;
  /** Path and query sent upstream (absolute-URI requests only). */
  path?: string;
  /** Bytes written to and read from the upstream connection. */
  sent: number;
  received: number;
  /** Both ends' sockets: destroyed when the attempt is cut. */
  sockets: Duplex[];
  ended: boolean;
  cutReason?: string;
}

type Admission =
  | { ok: true; address: string; attempt: Attempt }
  | { ok: false; status: number; reason: string; pastCap: boolean };

/**
 * An absolute-URI request from its headers until its response ends, found by its client socket when
 * Node's parser rejects what follows its headers (a bad chunk) or the connection goes away.
 */
interface Forwarding {
  response: ServerResponse;
  attempt?: Attempt;
  /** Its whole body has been parsed: a parse error on its socket is a later request's. */
  complete: boolean;
  /** Why it must not be sent (any more): malformed, or its client left while it was being checked. */
  abandoned?: string;
}

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
  private readonly forwarding = new Map<Duplex, Forwarding>();
  private readonly dial: Dialer;
  private readonly resolve: HostResolver;
  private open = 0;
  private closed = false;

  constructor(private readonly options: EgressProxyOptions) {
    this.dial = options.dial ?? ((address, port) => connect({ host: address, port }));
    this.resolve = boundedResolver(options.resolve, {
      maxConcurrent: MAX_LOOKUPS_PER_SANDBOX,
      timeoutMs: options.resolveTimeoutMs ?? RESOLVE_TIMEOUT_MS,
    });
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
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      this.malformed(error, socket),
    );
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

  /**
   * Absolute-URI request (`GET http://host/path`): plain HTTP, checked per request. Node's parser has
   * read the request strictly (it refuses Content-Length with Transfer-Encoding, obs-fold, bad chunk
   * sizes: see malformed) and de-chunked its body; the body goes upstream framed again the way it
   * came, Content-Length or chunked, so the destination reads exactly one request, the one audited.
   */
  private async forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { binding } = this;
    binding.requests += 1;
    const client = request.socket;
    const pending: Forwarding = { response, complete: false };
    this.forwarding.set(client, pending);
    request.once('end', () => (pending.complete = true));
    response.once('close', () => {
      pending.abandoned ??= 'the client closed the connection first';
      if (this.forwarding.get(client) === pending) this.forwarding.delete(client);
    });
    const method = request.method ?? 'GET';
    const target = parseAbsoluteTarget(request.url ?? '');
    if ('refused' in target) {
      const pastCap = this.pastAttemptCap(binding);
      this.recordDenied(binding, method, target.host, 0, target.refused, pastCap);
      return this.refuse(response, target.status, target.refused, pastCap);
    }
    const { port } = target;
    const admission = await this.admit(binding, method, target.host, port, () => pending.abandoned);
    if (!admission.ok) {
      if (!pending.abandoned) this.refuse(response, admission.status, admission.reason, admission.pastCap);
      return;
    }
    const { attempt, address } = admission;
    attempt.path = target.path;
    pending.attempt = attempt;

    const connection = this.connectUpstream(attempt, address);
    this.attach(attempt, client, connection);
    const upstream = httpRequest({
      method,
      path: target.path,
      headers: forwardedHeaders(request, target.hostHeader),
      setHost: false,
      createConnection: () => connection,
    });
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
      upstreamResponse.pipe(response);
    });
    response.on('close', () => {
      upstream.destroy();
      this.finish(attempt);
    });
    // Ends the upstream request only when the body ended cleanly; an aborted one is cut, never completed.
    request.pipe(upstream);
  }

  /** CONNECT host:port: a byte tunnel (TLS passes through untouched; the name checked is the one asked for). */
  private async tunnel(request: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const { binding } = this;
    binding.requests += 1;
    this.track(client);
    // Node hands a CONNECT's socket over without its error listener: a client resetting or gone
    // before a refusal is written must not become an unhandled error. Its close settles the tunnel.
    client.on('error', () => undefined);
    const target = parseConnectTarget(request.url ?? '');
    if (!target) {
      this.recordDenied(binding, 'CONNECT', '', 0, 'CONNECT needs host:port', this.pastAttemptCap(binding));
      return this.refuseOnSocket(client, 400, 'CONNECT needs host:port');
    }
    // A client gone while the name was checked gets no connection made on its behalf. The server's
    // sockets allow half-open connections, so a client's end is seen only when read; bytes it sent
    // after the CONNECT stay buffered for the tunnel (nothing is read out here).
    let gone = false;
    const noticeEnd = () => (gone = true);
    const peek = () => {
      if (client.readableLength === 0) client.read(0);
    };
    client.once('end', noticeEnd).once('close', noticeEnd).on('readable', peek);
    const admission = await this.admit(binding, 'CONNECT', target.host, target.port, () =>
      gone ? 'the client closed the connection first' : undefined,
    );
    client.off('readable', peek);
    if (!admission.ok) {
      if (gone) return void client.destroy();
      return this.refuseOnSocket(client, admission.status, admission.reason);
    }
    const { attempt, address } = admission;

    const upstream = this.connectUpstream(attempt, address);
    this.attach(attempt, client, upstream);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      if (!upstream.connected)
        this.refuseOnSocket(client, 502, `connection failed (${error.code ?? 'error'})`);
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
   * The attempt's connection to the address it was admitted for, metered both ways against the
   * binding's byte cap, cut when it does not connect in time or then goes idle.
   */
  private connectUpstream(attempt: Attempt, address: string): MeteredSocket {
    const socket = this.dial(address, attempt.port);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => this.cut(attempt, 'timed out'));
    socket.once('connect', () => socket.setTimeout(IDLE_TIMEOUT_MS));
    this.attach(attempt, socket);
    return new MeteredSocket(socket, (bytes, direction) => this.count(attempt, bytes, direction));
  }

  /**
   * Counts an attempt and decides it: caps first (no DNS work for an execution over its caps), then the
   * policy. A refusal is audited here; an admitted attempt is audited when it ends, with its bytes.
   */
  private async admit(
    binding: Binding,
    method: string,
    host: string,
    port: number,
    abandoned: () => string | undefined = () => undefined,
  ): Promise<Admission> {
    const { caps, metrics } = this.options;
    this.open += 1;
    const pastCap = this.pastAttemptCap(binding);
    let refusal: { status: number; reason: string } | undefined;
    if (this.closed) refusal = { status: 503, reason: 'the execution has ended' };
    else if (pastCap) {
      refusal = {
        status: 429,
        reason: `more than ${caps.maxConnections} egress connections in this execution`,
      };
    } else if (this.open > caps.maxOpenConnections) {
      refusal = {
        status: 429,
        reason: `more than ${caps.maxOpenConnections} egress connections open at once`,
      };
    } else if (binding.capReached || binding.bytes >= caps.maxBytes) {
      refusal = { status: 429, reason: `egress byte cap of ${caps.maxBytes} reached` };
    }
    let normalizedHost = host;
    let address = '';
    if (!refusal) {
      const decision = await checkDestination(binding.policy, host, port, this.resolve);
      normalizedHost = decision.host;
      if (decision.allowed) address = decision.address;
      else refusal = { status: 403, reason: decision.reason };
      // What happened on the client's connection while the name was being checked.
      const gone = abandoned();
      if (gone !== undefined) refusal = { status: 400, reason: gone };
    }
    if (refusal) {
      this.open -= 1;
      this.recordDenied(binding, method, normalizedHost, port, refusal.reason, pastCap);
      return { ok: false, ...refusal, pastCap };
    }
    metrics.egressRequest('allowed');
    const attempt: Attempt = {
      binding,
      method,
      host: normalizedHost,
      port,
      sent: 0,
      received: 0,
      sockets: [],
      ended: false,
    };
    return { ok: true, address, attempt };
  }

  /**
   * Meters one upstream read or write against the binding's byte cap; false (and the attempt cut)
   * once it is passed. A write that would pass it is not made; bytes already read are counted (they
   * did cross) but not relayed.
   */
  private count(attempt: Attempt, bytes: number, direction: ByteDirection): boolean {
    const { binding } = attempt;
    const { maxBytes } = this.options.caps;
    if (direction === 'received' || binding.bytes + bytes <= maxBytes) {
      attempt[direction] += bytes;
      binding.bytes += bytes;
      if (binding.bytes <= maxBytes) return true;
    }
    binding.capReached = true;
    this.cut(attempt, `egress byte cap of ${maxBytes} reached; connection cut`);
    return false;
  }

  private cut(attempt: Attempt, reason: string): void {
    if (attempt.ended) return;
    attempt.cutReason = reason;
    noteDenied(attempt.binding, { host: attempt.host, port: attempt.port, reason });
    this.finish(attempt);
    for (const socket of attempt.sockets) socket.destroy();
  }

  /**
   * Whether the attempt just counted in `binding` is past its attempt cap. Read when the attempt is
   * counted, before anything is awaited: later attempts may have been counted by the time it is refused.
   */
  private pastAttemptCap(binding: Binding): boolean {
    return binding.requests > this.options.caps.maxConnections;
  }

  /**
   * A refused attempt: counted, kept for the result, audited. Past the attempt cap (`pastCap`) only
   * the first refusal is kept and audited; the rest are counted (the result's `denied`, the metric).
   */
  private recordDenied(
    binding: Binding,
    method: string,
    host: string,
    port: number,
    reason: string,
    pastCap: boolean,
  ): void {
    binding.denied += 1;
    this.options.metrics.egressRequest('denied');
    if (pastCap && binding.pastCapAudited) return;
    if (pastCap) binding.pastCapAudited = true;
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
      ...(attempt.path !== undefined ? { path: attempt.path.slice(0, MAX_AUDITED_PATH) } : {}),
      decision: 'allowed',
      bytes: attempt.sent + attempt.received,
      sent: attempt.sent,
      received: attempt.received,
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

  /** A refusal as the response to a request; `hangUp` closes the connection after it (past the attempt cap). */
  private refuse(response: ServerResponse, status: number, reason: string, hangUp = false): void {
    response.writeHead(status, {
      'content-type': 'text/plain',
      'x-sandbox-egress': 'denied',
      ...(hangUp ? { connection: 'close' } : {}),
    });
    response.end(`egress denied: ${reason}\n`);
  }

  /**
   * A request Node's parser refused (Content-Length with Transfer-Encoding, obs-fold, a bad chunk
   * size, …): answered 400 and audited, and never forwarded. If it is the body of a request already
   * being forwarded that went bad, that attempt is refused or cut, so the destination never gets a
   * complete request; otherwise it is a refusal of its own.
   */
  private malformed(error: NodeJS.ErrnoException, socket: Duplex): void {
    const code = error.code ?? '';
    if (!code.startsWith('HPE_')) {
      socket.destroy(); // a reset or a timeout: nothing was asked for
      return;
    }
    const detail = (error as { reason?: unknown }).reason;
    const reason = `malformed request: ${typeof detail === 'string' ? detail : error.message} (${code})`;
    const pending = this.forwarding.get(socket);
    const answered = pending !== undefined && pending.response.headersSent;
    if (!answered) this.refuseOnSocket(socket, 400, reason);
    if (pending && !pending.complete) {
      pending.abandoned = reason;
      if (pending.attempt) this.cut(pending.attempt, reason);
    } else {
      this.binding.requests += 1;
      this.recordDenied(this.binding, '', '', 0, reason, this.pastAttemptCap(this.binding));
    }
    socket.destroy();
  }

  /** A refusal written straight on the client's socket (a CONNECT, or a request Node could not parse). */
  private refuseOnSocket(client: Duplex, status: number, reason: string): void {
    const body = `egress denied: ${reason}\n`;
    client.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\n` +
        `Content-Type: text/plain\r\nX-Sandbox-Egress: denied\r\nConnection: close\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
}

function noteDenied(binding: Binding, denied: DeniedEgress): void {
  if (binding.deniedAttempts.length < MAX_REPORTED_DENIALS) binding.deniedAttempts.push(denied);
}

/**
 * The headers to send upstream: the client's, without hop-by-hop ones (and any its Connection header
 * names), the Host of the URI, and the body's framing stated explicitly, as Node's parser read it.
 * Node's parser has de-chunked a chunked body; a body without a framing header (its Content-Length
 * named in `Connection`, so dropped above, or a chunked one) would be written bare after a GET's
 * head by Node's client, where the destination would read it as a second request.
 */
function forwardedHeaders(request: IncomingMessage, host: string): Record<string, string | string[]> {
  const named = (request.headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const headers = withoutHopByHop(request.headers, host, named);
  delete headers['content-length'];
  const contentLength = request.headers['content-length'];
  // Node's parser refuses both; never send both.
  if (request.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
  else if (contentLength !== undefined) headers['content-length'] = contentLength;
  return headers;
}

function withoutHopByHop(
  headers: IncomingMessage['headers'],
  host?: string,
  alsoDrop: readonly string[] = [],
): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP_HEADERS.has(name) && !alsoDrop.includes(name)) kept[name] = value;
  }
  if (host !== undefined) kept.host = host;
  return kept;
}
