import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import { UnauthenticatedError } from '../../errors/service-error.js';
import type { TokenAuthenticator } from './token-authenticator.js';

/** How a call was let in: a valid token, its source address, or an open service. */
export type AdmissionPath = 'token' | 'trusted_network' | 'open';
export type TransportName = 'http' | 'grpc';

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

  /** The path that admitted the call; throws UnauthenticatedError when none does. */
  admit(transport: TransportName, peer: string | undefined, token: string | undefined): AdmissionPath {
    const path = this.decide(peer, token);
    if (path === undefined) {
      this.logger.warn(
        { transport, peer, tokenPresented: token !== undefined },
        'call refused: no valid token',
      );
      throw new UnauthenticatedError();
    }
    this.recorder.admitted(transport, path);
    this.logger.info({ transport, peer, admission: path }, 'call admitted');
    return path;
  }

  private decide(peer: string | undefined, token: string | undefined): AdmissionPath | undefined {
    if (this.open) return 'open';
    if (token !== undefined && this.tokens.required)
      return this.tokens.isAuthorized(token) ? 'token' : undefined;
    if (peer !== undefined && this.isTrusted(peer)) return 'trusted_network';
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
