import type { CallerIdentity } from '../auth/caller-admission.js';

/**
 * Who made an MCP call, as the HTTP admission let it in: the identity sessions are owned by, and the
 * socket's peer address. Every tool call carries it; session calls hand the identity to SessionCalls.
 */
export interface McpCaller {
  identity: CallerIdentity;
  /** The socket's peer, never a forwarded-for header; undefined when the socket has none. */
  peer: string | undefined;
}
