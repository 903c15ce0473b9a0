import { createHash, timingSafeEqual } from 'node:crypto';

/** The name of the one configured token: what a caller admitted by it is known as (never the secret). */
export const TOKEN_NAME = 'default';

/**
 * Checks a presented shared-secret token. Both sides are hashed first so the comparison is constant
 * time whatever the lengths. With no token configured it accepts every token; CallerAdmission asks
 * `required` first and decides what an unconfigured token means.
 */
export class TokenAuthenticator {
  private readonly expected: Buffer | undefined;

  constructor(token: string | undefined) {
    this.expected = token === undefined ? undefined : digest(token);
  }

  get required(): boolean {
    return this.expected !== undefined;
  }

  isAuthorized(presented: string | undefined): boolean {
    if (!this.expected) return true;
    if (presented === undefined) return false;
    return timingSafeEqual(digest(presented), this.expected);
  }

  /**
   * The name of the configured token `presented` matches, or undefined. A name rather than a hash of
   * the secret: a short token's hash in a log could be brute-forced offline.
   */
  identify(presented: string): string | undefined {
    return this.expected && this.isAuthorized(presented) ? TOKEN_NAME : undefined;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The token from `Authorization: Bearer <token>` or, as RAGFlow's executor manager accepts,
 * `X-Sandbox-Token: <token>`. gRPC metadata uses the same keys.
 */
export function presentedToken(
  authorization: string | undefined,
  sandboxToken: string | undefined,
): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
  if (bearer) return bearer[1];
  return sandboxToken?.trim() || undefined;
}
