import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** A refusal as the response to a request; `hangUp` closes the connection after it (past the attempt cap). */
export function refuseResponse(
  response: ServerResponse,
  status: number,
  reason: string,
  hangUp = false,
): void {
  response.writeHead(status, {
    'content-type': 'text/plain',
    'x-sandbox-egress': 'denied',
    ...(hangUp ? { connection: 'close' } : {}),
  });
  response.end(`egress denied: ${reason}\n`);
}

/** A refusal written straight on the client's socket (a CONNECT, or a request Node could not parse). */
export function refuseOnSocket(client: Duplex, status: number, reason: string): void {
  const body = `egress denied: ${reason}\n`;
  client.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\n` +
      `Content-Type: text/plain\r\nX-Sandbox-Egress: denied\r\nConnection: close\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
