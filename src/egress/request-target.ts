import { normalizeHost } from '../domain/network-policy.js';

/** Where a proxy request asks to go: the host as written (judged later) and the port. */
export interface RequestTarget {
  host: string;
  port: number;
}

/** An absolute-URI request's target, with what to send upstream. */
export interface AbsoluteTarget extends RequestTarget {
  /** Path and query, as the upstream request line carries them. */
  path: string;
  /** The Host header to send (WHATWG URL's host: canonical name or address, and the port if given). */
  hostHeader: string;
}

/** CONNECT's authority form, `host:port`, IPv6 in brackets; undefined for anything else. */
export function parseConnectTarget(text: string): RequestTarget | undefined {
  const authority = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(text);
  if (!authority) return undefined;
  const [, host = '', port = ''] = authority;
  return { host, port: Number(port) };
}

/**
 * An absolute-URI request target (`http://host[:port]/path?query`), or why it cannot be forwarded.
 * The host judged is the one written in the URI, not the WHATWG URL parser's reading of it: that
 * parser turns `0x7f.1` or `2130706433` into 127.0.0.1 and decodes percent escapes, so a host it
 * would read differently from how it is written is refused, as it would be after CONNECT.
 */
export function parseAbsoluteTarget(
  text: string,
): AbsoluteTarget | { refused: string; status: number; host: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return {
      refused: 'this is a forward proxy: send an absolute URI (http://host/…)',
      status: 400,
      host: '',
    };
  }
  if (url.protocol !== 'http:') {
    return {
      refused: `${url.protocol} URIs go through CONNECT (set HTTPS_PROXY)`,
      status: 400,
      host: url.hostname,
    };
  }
  // WHATWG URL ends the authority at / ? # and, for http, at a backslash; the host follows any userinfo.
  const authority = /^http:\/\/([^/\\?#]*)/i.exec(text)?.[1] ?? '';
  const hostAndPort = authority.slice(authority.lastIndexOf('@') + 1);
  const written = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(hostAndPort)?.[1] ?? hostAndPort;
  const canonical = normalizeHost(written);
  if (canonical === undefined || canonical !== normalizeHost(url.hostname)) {
    return { refused: 'not a valid host', status: 403, host: written.slice(0, 255) };
  }
  return {
    host: written,
    port: url.port === '' ? 80 : Number(url.port),
    path: `${url.pathname}${url.search}`,
    hostHeader: url.host,
  };
}
