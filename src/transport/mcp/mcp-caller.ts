import type { AdmissionPath } from '../auth/caller-admission.js';

/**
 * Who made an MCP call, as the HTTP admission let it in: the path (token, trusted network, open) and
 * the socket's peer address. Every tool call carries it; session calls hand it to SessionCalls.
 */
export interface McpCaller {
  admission: AdmissionPath;
  /** The socket's peer, never a forwarded-for header; undefined when the socket has none. */
  peer: string | undefined;
}
