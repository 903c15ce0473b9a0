import type { Metadata } from '@grpc/grpc-js';
import { grpcPeerAddress, type CallerAdmission } from '../auth/caller-admission.js';
import { presentedToken } from '../auth/token-authenticator.js';

/** Admits a gRPC call (token, trusted network or open service) or throws UnauthenticatedError. */
export function admitCall(call: { metadata: Metadata; getPeer(): string }, admission: CallerAdmission): void {
  const value = (key: string) => call.metadata.get(key)[0]?.toString();
  const token = presentedToken(value('authorization'), value('x-sandbox-token'));
  admission.admit('grpc', grpcPeerAddress(call.getPeer()), token);
}
