import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import { UnauthenticatedError } from '../../errors/service-error.js';
import type { CallerIdentity } from '../../domain/caller-identity.js';
import type { TokenAuthenticator } from './token-authenticator.js';

/** How a call was let in: a valid token, its source address, or an open service. */
export type AdmissionPath = 'token' | 'trusted_network' | 'open';
export type TransportName = 'http' | 'grpc';

export type { CallerIdentity };

/** The one caller of a service that admits everyone. */
export const ANONYMOUS_CALLER = 'anonymous' as CallerIdentity;

/** A trusted-network caller: its address (an IPv4-mapped IPv6 address as its IPv4 form). */
export function peerIdentity(address: string): CallerIdentity {
  return `peer:${address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '')}` as CallerIdentity;
}

/** An admitted call: the path that let it in and who it is. */
export interface Admission {
  path: AdmissionPath;
  caller: CallerIdentity;
}

/** An address range; `family` as node:net names it. */
export interface AddressRange {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Ranges whose calls need no token, minus the addresses inside them that still do. */
export interface TrustedRanges {
  trusted: readonly AddressRange[];
  excluded: readonly AddressRange[];
}

/** Counts admissions (Prometheus in production). */
export interface AdmissionRecorder {
  admitted(transport: TransportName, path: AdmissionPath): void;
}

/**
 * Decides whether a call to an execution endpoint may proceed, the same way for HTTP and gRPC, and
 * logs and counts which path let it in. A presented token must be the right one, wherever the call
 * comes from; without one, the caller's address must be in a trusted range and not excluded (a
 * published port's traffic arrives from the network's gateway, which is excluded); a service with
 * neither a token nor trusted ranges is open (config allows that only on loopback or on purpose).
 */
export class CallerAdmission {
  private readonly trusted = new BlockList();
  private readonly excluded = new BlockList();
  private readonly open: boolean;

  constructor(
    private readonly tokens: TokenAuthenticator,
    ranges: TrustedRanges,
    private readonly recorder: AdmissionRecorder,
    private readonly logger: Logger,
  ) {
    for (const range of ranges.trusted) this.trusted.addSubnet(range.address, range.prefix, range.family);
    for (const range of ranges.excluded) this.excluded.addSubnet(range.address, range.prefix, range.family);
    this.open = !tokens.required && ranges.trusted.length === 0;
  }

  /** The path that admitted the call and its identity; throws UnauthenticatedError when none does. */
  admit(transport: TransportName, peer: string | undefined, token: string | undefined): Admission {
    const admission = this.decide(peer, token);
    if (admission === undefined) {
      this.logger.warn(
        { transport, peer, tokenPresented: token !== undefined },
        'call refused: no valid token',
      );
      throw new UnauthenticatedError();
    }
    this.recorder.admitted(transport, admission.path);
    this.logger.info(
      { transport, peer, admission: admission.path, caller: admission.caller },
      'call admitted',
    );
    return admission;
  }

  private decide(peer: string | undefined, token: string | undefined): Admission | undefined {
    if (this.open) return { path: 'open', caller: ANONYMOUS_CALLER };
    if (token !== undefined && this.tokens.required) {
      const name = this.tokens.identify(token);
      return name === undefined ? undefined : { path: 'token', caller: `token:${name}` as CallerIdentity };
    }
    if (peer !== undefined && this.isTrusted(peer))
      return { path: 'trusted_network', caller: peerIdentity(peer) };
    return undefined;
  }

  private isTrusted(peer: string): boolean {
    const family = peer.includes(':') ? 'ipv6' : 'ipv4';
    return this.trusted.check(peer, family) && !this.excluded.check(peer, family);
  }
}

/**
 * The IP address in a grpc-js server call's peer: "<address>:<port>" (IPv6 unbracketed, e.g.
 * "::ffff:172.20.0.5:4711"); bracketed and "ipv4:"/"ipv6:"-prefixed forms are accepted too.
 */
export function grpcPeerAddress(peer: string): string | undefined {
  const withoutScheme = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(withoutScheme);
  const address = bracketed ? bracketed[1]! : withoutScheme.replace(/:\d+$/, '');
  return isIP(address) === 0 ? undefined : address;
}
