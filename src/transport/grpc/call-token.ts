import type { Metadata } from '@grpc/grpc-js';
import { UnauthenticatedError } from '../../errors/service-error.js';
import { presentedToken, type TokenAuthenticator } from '../auth/token-authenticator.js';

/** Throws UnauthenticatedError unless the call's metadata carries the token (when one is required). */
export function checkCallToken(metadata: Metadata, authenticator: TokenAuthenticator): void {
  const value = (key: string) => metadata.get(key)[0]?.toString();
  const token = presentedToken(value('authorization'), value('x-sandbox-token'));
  if (!authenticator.isAuthorized(token)) throw new UnauthenticatedError();
}
