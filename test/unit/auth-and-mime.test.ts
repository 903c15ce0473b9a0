import { describe, expect, it } from 'vitest';
import { mimeTypeFor } from '../../src/domain/artifact.js';
import { presentedToken, TokenAuthenticator } from '../../src/transport/auth/token-authenticator.js';

describe('TokenAuthenticator', () => {
  it('lets everything through when no token is configured', () => {
    const open = new TokenAuthenticator(undefined);
    expect(open.required).toBe(false);
    expect(open.isAuthorized(undefined)).toBe(true);
  });

  it('accepts only the exact token', () => {
    const guarded = new TokenAuthenticator('s3cret-token-value');
    expect(guarded.isAuthorized('s3cret-token-value')).toBe(true);
    expect(guarded.isAuthorized('s3cret-token-valuE')).toBe(false);
    expect(guarded.isAuthorized('s3cret')).toBe(false);
    expect(guarded.isAuthorized('')).toBe(false);
    expect(guarded.isAuthorized(undefined)).toBe(false);
  });
});

describe('presentedToken', () => {
  it('reads a Bearer authorization first, then X-Sandbox-Token', () => {
    expect(presentedToken('Bearer abc', 'xyz')).toBe('abc');
    expect(presentedToken('bearer  abc ', undefined)).toBe('abc');
    expect(presentedToken(undefined, ' xyz ')).toBe('xyz');
    expect(presentedToken('Basic abc', undefined)).toBeUndefined();
    expect(presentedToken(undefined, '')).toBeUndefined();
  });
});

describe('mimeTypeFor', () => {
  it.each([
    ['plot.png', 'image/png'],
    ['dir/Report.PDF', 'application/pdf'],
    ['data.csv', 'text/csv'],
    ['archive.tar.gz', 'application/gzip'],
    ['noext', 'application/octet-stream'],
    ['dir.v2/noext', 'application/octet-stream'],
    ['weird.xyz', 'application/octet-stream'],
  ])('%s → %s', (name, mime) => {
    expect(mimeTypeFor(name)).toBe(mime);
  });
});
