import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { UnauthenticatedError } from '../../src/errors/service-error.js';
import {
  CallerAdmission,
  grpcPeerAddress,
  type AdmissionPath,
  type TrustedRanges,
} from '../../src/transport/auth/caller-admission.js';
import { TokenAuthenticator } from '../../src/transport/auth/token-authenticator.js';

const TOKEN = 'a-long-enough-shared-secret';
// A RAGFlow network as docker reports it: the subnet trusted, its gateway (where published-port
// traffic comes from) excluded.
const RAGFLOW: TrustedRanges = {
  trusted: [{ address: '172.20.0.0', prefix: 16, family: 'ipv4' }],
  excluded: [{ address: '172.20.0.1', prefix: 32, family: 'ipv4' }],
};
const NONE: TrustedRanges = { trusted: [], excluded: [] };

function admission(token: string | undefined, ranges: TrustedRanges) {
  const counted: string[] = [];
  const gate = new CallerAdmission(
    new TokenAuthenticator(token),
    ranges,
    { admitted: (transport, path) => counted.push(`${transport}:${path}`) },
    pino({ level: 'silent' }),
  );
  const identify = (peer: string | undefined, presented?: string): string => {
    try {
      return gate.admit('http', peer, presented).caller;
    } catch (error) {
      expect(error).toBeInstanceOf(UnauthenticatedError);
      return 'refused';
    }
  };
  const admit = (peer: string | undefined, presented?: string): AdmissionPath | 'refused' => {
    try {
      return gate.admit('http', peer, presented).path;
    } catch (error) {
      expect(error).toBeInstanceOf(UnauthenticatedError);
      return 'refused';
    }
  };
  return { admit, identify, counted };
}

describe('CallerAdmission', () => {
  it('admits the RAGFlow network without a token, never its gateway nor anyone else', () => {
    const { admit, counted } = admission(undefined, RAGFLOW);
    expect(admit('172.20.0.5')).toBe('trusted_network');
    expect(admit('::ffff:172.20.3.4')).toBe('trusted_network');
    expect(admit('172.20.0.1')).toBe('refused');
    expect(admit('::ffff:172.20.0.1')).toBe('refused');
    expect(admit('127.0.0.1')).toBe('refused');
    expect(admit('10.1.2.3', 'anything')).toBe('refused');
    expect(admit(undefined)).toBe('refused');
    expect(counted).toEqual(['http:trusted_network', 'http:trusted_network']);
  });

  it('admits a valid token from anywhere and refuses a wrong one even from a trusted address', () => {
    const { admit, counted } = admission(TOKEN, RAGFLOW);
    expect(admit('203.0.113.9', TOKEN)).toBe('token');
    expect(admit('172.20.0.1', TOKEN)).toBe('token');
    expect(admit('172.20.0.5', 'wrong-token')).toBe('refused');
    expect(admit('172.20.0.5')).toBe('trusted_network');
    expect(admit('203.0.113.9')).toBe('refused');
    expect(counted).toEqual(['http:token', 'http:token', 'http:trusted_network']);
  });

  it('is open only with neither a token nor trusted ranges', () => {
    expect(admission(undefined, NONE).admit('203.0.113.9')).toBe('open');
    expect(admission(TOKEN, NONE).admit('127.0.0.1')).toBe('refused');
  });

  it('names each caller: the token by name (never the secret), a trusted peer by address, else anonymous', () => {
    const { identify } = admission(TOKEN, RAGFLOW);
    expect(identify('203.0.113.9', TOKEN)).toBe('token:default');
    expect(identify('172.20.0.5', TOKEN)).toBe('token:default');
    expect(identify('172.20.0.5')).toBe('peer:172.20.0.5');
    // The same client over HTTP (IPv4-mapped on a dual-stack socket) and gRPC: one identity.
    expect(identify('::ffff:172.20.0.5')).toBe('peer:172.20.0.5');
    expect(identify('172.20.0.6')).toBe('peer:172.20.0.6');
    expect(admission(undefined, NONE).identify('203.0.113.9')).toBe('anonymous');
    expect(admission(undefined, NONE).identify('198.51.100.1', 'whatever')).toBe('anonymous');
    const names = [identify('1.2.3.4', TOKEN), identify('172.20.0.5')].join(' ');
    expect(names).not.toContain(TOKEN);
  });

  it('reads the address out of grpc-js peer strings', () => {
    expect(grpcPeerAddress('172.20.0.5:43210')).toBe('172.20.0.5');
    expect(grpcPeerAddress('::ffff:172.20.0.5:43210')).toBe('::ffff:172.20.0.5');
    expect(grpcPeerAddress('unknown')).toBeUndefined();
    expect(grpcPeerAddress('ipv4:172.20.0.5:43210')).toBe('172.20.0.5');
    expect(grpcPeerAddress('ipv6:[::ffff:172.20.0.5]:43210')).toBe('::ffff:172.20.0.5');
    expect(grpcPeerAddress('ipv6:[::1]:1')).toBe('::1');
    expect(grpcPeerAddress('unix:/tmp/socket')).toBeUndefined();
  });
});
