import { chmod, rm } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { EgressReport } from '../domain/egress-report.js';
import { NO_EGRESS, type NetworkPolicy } from '../domain/network-policy.js';
import { boundedResolver } from './bounded-resolver.js';
import {
  EgressAttempts,
  newBinding,
  type Attempt,
  type Binding,
  type EgressCaps,
} from './egress-attempts.js';
import type { EgressChannel } from './egress-channel.js';
import type { EgressMetrics } from './egress-metrics.js';
import { refuseOnSocket, refuseResponse } from './egress-refusal.js';
import { forwardedHeaders, withoutHopByHop } from './forwarded-headers.js';
import type { HostResolver } from './host-resolver.js';
import { MeteredSocket } from './metered-socket.js';
import { parseAbsoluteTarget, parseConnectTarget } from './request-target.js';

export type { EgressCaps } from './egress-attempts.js';

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
  private readonly attempts: EgressAttempts;
  private closed = false;

  constructor(private readonly options: EgressProxyOptions) {
    this.dial = options.dial ?? ((address, port) => connect({ host: address, port }));
    const resolve = boundedResolver(options.resolve, {
      maxConcurrent: MAX_LOOKUPS_PER_SANDBOX,
      timeoutMs: options.resolveTimeoutMs ?? RESOLVE_TIMEOUT_MS,
    });
    const { sandboxId, caps, metrics, logger } = options;
    this.attempts = new EgressAttempts({ sandboxId, caps, resolve, metrics, logger });
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
    this.attempts.close();
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
      const pastCap = this.attempts.pastAttemptCap(binding);
      this.attempts.recordDenied(binding, method, target.host, 0, target.refused, pastCap);
      return refuseResponse(response, target.status, target.refused, pastCap);
    }
    const { port } = target;
    const admission = await this.attempts.admit(binding, method, target.host, port, () => pending.abandoned);
    if (!admission.ok) {
      if (!pending.abandoned) refuseResponse(response, admission.status, admission.reason, admission.pastCap);
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
      this.attempts.finish(attempt);
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
      this.attempts.finish(attempt);
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
      this.attempts.recordDenied(
        binding,
        'CONNECT',
        '',
        0,
        'CONNECT needs host:port',
        this.attempts.pastAttemptCap(binding),
      );
      return refuseOnSocket(client, 400, 'CONNECT needs host:port');
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
    const admission = await this.attempts.admit(binding, 'CONNECT', target.host, target.port, () =>
      gone ? 'the client closed the connection first' : undefined,
    );
    client.off('readable', peek);
    if (!admission.ok) {
      if (gone) return void client.destroy();
      return refuseOnSocket(client, admission.status, admission.reason);
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
      if (!upstream.connected) refuseOnSocket(client, 502, `connection failed (${error.code ?? 'error'})`);
      this.attempts.finish(attempt);
    });
    upstream.once('close', () => {
      client.end();
      this.attempts.finish(attempt);
    });
    client.once('close', () => {
      upstream.destroy();
      this.attempts.finish(attempt);
    });
  }

  /**
   * The attempt's connection to the address it was admitted for, metered both ways against the
   * binding's byte cap, cut when it does not connect in time or then goes idle.
   */
  private connectUpstream(attempt: Attempt, address: string): MeteredSocket {
    const socket = this.dial(address, attempt.port);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => this.attempts.cut(attempt, 'timed out'));
    socket.once('connect', () => socket.setTimeout(IDLE_TIMEOUT_MS));
    this.attach(attempt, socket);
    return new MeteredSocket(socket, (bytes, direction) => this.attempts.count(attempt, bytes, direction));
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
    if (!answered) refuseOnSocket(socket, 400, reason);
    if (pending && !pending.complete) {
      pending.abandoned = reason;
      if (pending.attempt) this.attempts.cut(pending.attempt, reason);
    } else {
      this.binding.requests += 1;
      this.attempts.recordDenied(this.binding, '', '', 0, reason, this.attempts.pastAttemptCap(this.binding));
    }
    socket.destroy();
  }
}
