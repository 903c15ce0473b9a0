import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** Which way bytes cross an upstream connection: to the destination, or back from it. */
export type ByteDirection = 'sent' | 'received';

/**
 * Shown every byte before it is written and as soon as it is read; false refuses it and the
 * connection is cut (a refused write is never sent).
 */
export type ByteMeter = (bytes: number, direction: ByteDirection) => boolean;

/**
 * An upstream TCP connection that shows every byte crossing it, both ways, to a meter first. The
 * proxy's HTTP client and its tunnels write and read through it, so what is counted and capped is
 * what crosses the wire: request lines, headers and body framing included, not only bodies.
 */
export class MeteredSocket extends Duplex {
  /** Whether the TCP connection was ever established ('connect' is re-emitted here). */
  connected = false;
  private endReceived = false;

  constructor(
    private readonly socket: Socket,
    private readonly meter: ByteMeter,
  ) {
    super();
    socket.once('connect', () => {
      this.connected = true;
      this.emit('connect');
    });
    socket.on('data', (chunk: Buffer) => {
      if (!this.meter(chunk.length, 'received')) return;
      if (!this.push(chunk)) socket.pause();
    });
    socket.once('end', () => {
      this.endReceived = true;
      this.push(null);
    });
    socket.once('error', (error) => this.destroy(error));
    // Closed without an end (reset, or cut): nothing more will come; after an end, let the reader drain.
    socket.once('close', () => {
      if (!this.endReceived) this.destroy();
    });
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.meter(chunk.length, 'sent')) {
      callback(new Error('egress byte cap reached'));
      return;
    }
    this.socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
