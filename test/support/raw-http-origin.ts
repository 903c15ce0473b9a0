import { createServer, type AddressInfo } from 'node:net';

/** One request the origin read off the wire, complete with its body. */
export interface ParsedRequest {
  method: string;
  url: string;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
}

/** A loopback HTTP/1.1 origin that parses the raw byte stream itself. */
export interface RawOrigin {
  port: number;
  /** Every complete request parsed, in order, whatever came before it on its connection. */
  requests: ParsedRequest[];
  /** Raw bytes read from and written to all connections. */
  received(): number;
  sent(): number;
  close(): void;
}

/**
 * Starts an origin that records every request in the bytes it receives, framed only as RFC 9112
 * says (Content-Length, chunked, or no body), and never stops parsing a connection after a request
 * (Connection: close included): what a lenient server behind the proxy would see. Node's own server
 * stops reading after `Connection: close`, which would hide a smuggled second request. Each request
 * is answered `seen <url>`.
 */
export async function startRawOrigin(): Promise<RawOrigin> {
  const requests: ParsedRequest[] = [];
  let received = 0;
  let sent = 0;
  const server = createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      buffer = Buffer.concat([buffer, chunk]);
      for (let parsed = parseOne(buffer); parsed; parsed = parseOne(buffer)) {
        requests.push(parsed.request);
        buffer = buffer.subarray(parsed.length);
        const body = `seen ${parsed.request.url}`;
        const reply = `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        sent += Buffer.byteLength(reply);
        socket.write(reply);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    received: () => received,
    sent: () => sent,
    close: () => server.close(),
  };
}

/** The first complete request in `buffer` and how many bytes it took, or undefined if incomplete. */
function parseOne(buffer: Buffer): { request: ParsedRequest; length: number } | undefined {
  const text = buffer.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [requestLine = '', ...lines] = text.slice(0, headEnd).split('\r\n');
  const [method = '', url = ''] = requestLine.split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let offset = headEnd + 4;
  let body = '';
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    for (;;) {
      const lineEnd = text.indexOf('\r\n', offset);
      if (lineEnd < 0) return undefined;
      const size = parseInt(text.slice(offset, lineEnd), 16);
      offset = lineEnd + 2;
      if (size === 0) {
        const trailerEnd = text.indexOf('\r\n', offset);
        if (trailerEnd < 0) return undefined;
        offset = trailerEnd + 2;
        break;
      }
      if (text.length < offset + size + 2) return undefined;
      body += text.slice(offset, offset + size);
      offset += size + 2;
    }
  } else if (headers['content-length'] !== undefined) {
    const size = Number(headers['content-length']);
    if (text.length < offset + size) return undefined;
    body = text.slice(offset, offset + size);
    offset += size;
  }
  return { request: { method, url, headers, body }, length: offset };
}
