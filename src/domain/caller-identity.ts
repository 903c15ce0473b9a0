/**
 * Who a call is, for owning sessions: the token that admitted it (its name, never the secret), the
 * trusted source address it came from, or the single anonymous caller of an open service. The same
 * client gets the same identity over gRPC and HTTP. A branded string, so any transport (and the
 * session use case, which knows no transport) can pass it on; only admission makes one.
 */
export type CallerIdentity = string & { readonly __callerIdentity: unique symbol };
