import type { IncomingMessage } from 'node:http';

const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The headers to send upstream: the client's, without hop-by-hop ones (and any its Connection header
 * names), the Host of the URI, and the body's framing stated explicitly, as Node's parser read it.
 * Node's parser has de-chunked a chunked body; a body without a framing header (its Content-Length
 * named in `Connection`, so dropped above, or a chunked one) would be written bare after a GET's
 * head by Node's client, where the destination would read it as a second request.
 */
export function forwardedHeaders(request: IncomingMessage, host: string): Record<string, string | string[]> {
  const named = (request.headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const headers = withoutHopByHop(request.headers, host, named);
  delete headers['content-length'];
  const contentLength = request.headers['content-length'];
  // Node's parser refuses both; never send both.
  if (request.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
  else if (contentLength !== undefined) headers['content-length'] = contentLength;
  return headers;
}

/** `headers` without hop-by-hop ones (and `alsoDrop`), with `host` as Host when given. */
export function withoutHopByHop(
  headers: IncomingMessage['headers'],
  host?: string,
  alsoDrop: readonly string[] = [],
): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP_HEADERS.has(name) && !alsoDrop.includes(name)) kept[name] = value;
  }
  if (host !== undefined) kept.host = host;
  return kept;
}
