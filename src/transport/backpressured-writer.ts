/** What the writer writes to: a Node Writable (an HTTP body stream, a gRPC server call). */
export interface WriterSink<C> {
  /** False means "buffer full": wait for 'drain' before writing more. */
  write(chunk: C): boolean;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

export interface BackpressuredWriterOptions {
  /** How long the sink may stay full (the client not reading) before `onStall`. */
  stallTimeoutMs: number;
  /** Called once when the sink stayed full for `stallTimeoutMs`; nothing more is written after it. */
  onStall(): void;
  /** Aborted when the peer is gone: nothing more is written. */
  signal: AbortSignal;
}

/**
 * Writes a response item by item while respecting backpressure. Items wait as they are (program
 * output as raw bytes, already capped by the execution's limits) and are serialised only when the
 * sink has room, one chunk at a time. So what a request holds is its raw items plus one chunk plus
 * the sink's own buffer, whatever the client does — never the whole response in serialised form.
 * A client that stops reading for `stallTimeoutMs` ends it: `onStall` (which cancels the execution
 * and closes the connection), and everything still waiting is dropped.
 */
export class BackpressuredWriter<T, C> {
  private readonly waiting: T[] = [];
  private pumping: Promise<void> | undefined;
  private state: 'open' | 'stalled' | 'closed' = 'open';

  constructor(
    private readonly sink: WriterSink<C>,
    /** Cuts one item into chunks; called lazily, in item order (so it may keep state across items). */
    private readonly serialize: (item: T) => Iterable<C>,
    private readonly options: BackpressuredWriterOptions,
  ) {
    if (options.signal.aborted) this.close();
    else options.signal.addEventListener('abort', () => this.close(), { once: true });
  }

  /** Queues an item; a no-op once the writer has stalled or the peer is gone. */
  push(item: T): void {
    if (this.state !== 'open') return;
    this.waiting.push(item);
    this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
  }

  /** Resolves once everything pushed so far is handed to the sink: true, or false if it never will be. */
  async flushed(): Promise<boolean> {
    while (this.pumping) await this.pumping;
    return this.state === 'open';
  }

  get stalled(): boolean {
    return this.state === 'stalled';
  }

  private async pump(): Promise<void> {
    while (this.state === 'open') {
      const item = this.waiting.shift();
      if (item === undefined) return;
      for (const chunk of this.serialize(item)) {
        if (this.state !== 'open') return;
        if (!this.sink.write(chunk)) await this.drained();
      }
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sink.off('drain', done);
        this.options.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(() => {
        if (this.state === 'open') {
          this.state = 'stalled';
          this.waiting.length = 0;
          this.options.onStall();
        }
        done();
      }, this.options.stallTimeoutMs);
      this.sink.once('drain', done);
      this.options.signal.addEventListener('abort', done, { once: true });
    });
  }

  private close(): void {
    if (this.state === 'open') this.state = 'closed';
    this.waiting.length = 0;
  }
}
