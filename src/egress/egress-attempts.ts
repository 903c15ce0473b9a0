import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { MAX_REPORTED_DENIALS, type DeniedEgress } from '../domain/egress-report.js';
import type { NetworkPolicy } from '../domain/network-policy.js';
import { checkDestination } from './destination-check.js';
import type { EgressMetrics } from './egress-metrics.js';
import type { HostResolver } from './host-resolver.js';
import type { ByteDirection } from './metered-socket.js';

const MAX_AUDITED_PATH = 512;

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

/**
 * One `bind`: whose attempts these are, what they may reach, what they did. An attempt stays with the
 * binding it was admitted under, so a connection a session cell leaves open is still counted (and
 * audited) as that cell's after the next cell binds.
 */
export interface Binding {
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

export function newBinding(executionId: string | undefined, policy: NetworkPolicy): Binding {
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
export interface Attempt {
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

export type Admission =
  | { ok: true; address: string; attempt: Attempt }
  | { ok: false; status: number; reason: string; pastCap: boolean };

/** What the attempts of one sandbox's proxy are checked against, counted on and audited to. */
export interface EgressAttemptsOptions {
  sandboxId: string;
  caps: EgressCaps;
  /** Already bounded per sandbox (see EgressProxy). */
  resolve: HostResolver;
  metrics: EgressMetrics;
  logger: Logger;
}

/**
 * The admission and audit of one sandbox's egress attempts, whichever way they came (a forwarded
 * request or a CONNECT tunnel): the caps, the policy check, the byte meter, the one audit line per
 * attempt and the refusals kept for the result.
 */
export class EgressAttempts {
  private open = 0;
  private closed = false;

  constructor(private readonly options: EgressAttemptsOptions) {}

  /** The proxy is closing: every attempt from now on is refused. */
  close(): void {
    this.closed = true;
  }

  /**
   * Counts an attempt and decides it: caps first (no DNS work for an execution over its caps), then the
   * policy. A refusal is audited here; an admitted attempt is audited when it ends, with its bytes.
   */
  async admit(
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
      const decision = await checkDestination(binding.policy, host, port, this.options.resolve);
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
  count(attempt: Attempt, bytes: number, direction: ByteDirection): boolean {
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

  cut(attempt: Attempt, reason: string): void {
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
  pastAttemptCap(binding: Binding): boolean {
    return binding.requests > this.options.caps.maxConnections;
  }

  /**
   * A refused attempt: counted, kept for the result, audited. Past the attempt cap (`pastCap`) only
   * the first refusal is kept and audited; the rest are counted (the result's `denied`, the metric).
   */
  recordDenied(
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
  finish(attempt: Attempt): void {
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
}

function noteDenied(binding: Binding, denied: DeniedEgress): void {
  if (binding.deniedAttempts.length < MAX_REPORTED_DENIALS) binding.deniedAttempts.push(denied);
}
