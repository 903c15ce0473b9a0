/** The service's gRPC port when a URL names none (the HTTP port, 9385, is a different protocol). */
export const DEFAULT_GRPC_PORT = 50051;
/** Port for `grpcs://host` without one: TLS is usually terminated by an ingress on 443. */
export const DEFAULT_GRPCS_PORT = 443;
/** Where the service listens out of the box. */
export const DEFAULT_URL = `127.0.0.1:${DEFAULT_GRPC_PORT}`;

/** Where to connect and whether to use TLS, from a client URL. */
export interface Endpoint {
  /** A grpc-js target: `host:port`, `[v6]:port`, or a `dns:`/`unix:` target passed through. */
  target: string;
  tls: boolean;
}

/**
 * Parses the URL a developer gives the client: `grpc://host:port` (plaintext), `grpcs://host:port`
 * (TLS), bare `host:port` (plaintext), or a grpc-js target with its own scheme (`dns:///host:port`
 * for client-side balancing over a headless Service, `unix:/path`). An `http(s)://` URL is refused
 * with the reason: the SDK speaks gRPC on the service's gRPC port, not the REST API on its HTTP port.
 */
export function parseEndpoint(url: string): Endpoint {
  const trimmed = url.trim();
  if (trimmed === '') throw new TypeError('code-sandbox: the URL is empty; expected grpc://host:port');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') {
    throw new TypeError(
      `code-sandbox: "${trimmed}" is an HTTP URL, but this SDK speaks gRPC: give the service's gRPC ` +
        `endpoint, e.g. grpc://host:${DEFAULT_GRPC_PORT} (plaintext) or grpcs://host:port (TLS). ` +
        `The gRPC port defaults to ${DEFAULT_GRPC_PORT}; 9385 is the HTTP port.`,
    );
  }
  if (scheme === 'grpc' || scheme === 'grpcs') {
    const tls = scheme === 'grpcs';
    const rest = trimmed.slice(scheme.length + 1).replace(/^\/\//, '');
    const authority = rest.replace(/\/+$/, '');
    if (authority === '' || authority.includes('/')) {
      throw new TypeError(`code-sandbox: "${trimmed}" must be ${scheme}://host[:port] with no path`);
    }
    return { target: withPort(authority, tls ? DEFAULT_GRPCS_PORT : DEFAULT_GRPC_PORT), tls };
  }
  // A bare IPv6 literal ("::1") and "host:port" both look like a scheme to the regex above; only a
  // scheme followed by "/" (dns:///…, unix:/…) is one.
  if (scheme && /^[a-z][a-z0-9+.-]*:\//i.test(trimmed)) return { target: trimmed, tls: false };
  if (trimmed.includes('/')) throw new TypeError(`code-sandbox: "${trimmed}" is not host:port`);
  return { target: withPort(trimmed, DEFAULT_GRPC_PORT), tls: false };
}

function withPort(authority: string, port: number): string {
  if (authority.startsWith('[')) return /\]:\d+$/.test(authority) ? authority : `${authority}:${port}`;
  const colons = authority.split(':').length - 1;
  if (colons > 1) return `[${authority}]:${port}`; // an unbracketed IPv6 literal has no port
  if (colons === 1) {
    if (!/:\d+$/.test(authority)) throw new TypeError(`code-sandbox: "${authority}" has no valid port`);
    return authority;
  }
  return `${authority}:${port}`;
}
