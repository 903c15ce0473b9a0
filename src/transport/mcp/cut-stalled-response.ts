import type { ServerResponse } from 'node:http';

/**
 * Destroys `response` once it has had data waiting for a client that does not read for
 * `stallTimeoutMs` (no 'drain' in that time), as the REST routes do for theirs. The SDK's transport
 * writes an MCP response itself and buffers what the socket does not take; without this a client
 * could hold that buffer, and the call's execution, for as long as it liked. Destroying the socket
 * closes the request's MCP server, which cancels the call.
 */
export function cutStalledResponse(response: ServerResponse, stallTimeoutMs: number): void {
  let stalledSince: number | undefined;
  response.on('drain', () => (stalledSince = undefined));
  const check = setInterval(
    () => {
      if (!response.writableNeedDrain) {
        stalledSince = undefined;
        return;
      }
      stalledSince ??= performance.now();
      if (performance.now() - stalledSince >= stallTimeoutMs) response.destroy();
    },
    Math.max(50, Math.min(1000, stallTimeoutMs / 4)),
  );
  check.unref();
  response.once('close', () => clearInterval(check));
}
