import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BackpressuredWriter } from '../../src/transport/backpressured-writer.js';

/** A sink that accepts `room` chunks and then reports itself full until `drain()`. */
class FakeSink extends EventEmitter {
  readonly written: string[] = [];
  constructor(private room: number) {
    super();
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return --this.room > 0;
  }
  drain(room: number): void {
    this.room = room;
    this.emit('drain');
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('BackpressuredWriter', () => {
  it('stops at a full sink, serialises lazily, and goes on after drain', async () => {
    const sink = new FakeSink(2);
    const serialized: number[] = [];
    const writer = new BackpressuredWriter<number, string>(
      sink,
      function* (n) {
        serialized.push(n);
        yield `${n}a`;
        yield `${n}b`;
      },
      { stallTimeoutMs: 10_000, onStall: () => undefined, signal: new AbortController().signal },
    );
    for (const n of [1, 2, 3]) writer.push(n);
    await tick();
    expect(sink.written).toEqual(['1a', '1b']);
    // Items behind a full sink wait as they are: not one was serialised ahead of time.
    expect(serialized).toEqual([1]);
    sink.drain(10);
    expect(await writer.flushed()).toBe(true);
    expect(sink.written).toEqual(['1a', '1b', '2a', '2b', '3a', '3b']);
  });

  it('gives up on a sink that stays full, once, and drops what waits', async () => {
    const sink = new FakeSink(1);
    let stalls = 0;
    const writer = new BackpressuredWriter<string, string>(sink, (s) => [s], {
      stallTimeoutMs: 30,
      onStall: () => stalls++,
      signal: new AbortController().signal,
    });
    writer.push('first');
    writer.push('second');
    expect(await writer.flushed()).toBe(false);
    expect(writer.stalled).toBe(true);
    expect(stalls).toBe(1);
    writer.push('third');
    await tick();
    expect(sink.written).toEqual(['first']);
  });

  it('stops writing once the peer is gone', async () => {
    const sink = new FakeSink(1);
    const controller = new AbortController();
    const writer = new BackpressuredWriter<string, string>(sink, (s) => [s], {
      stallTimeoutMs: 10_000,
      onStall: () => undefined,
      signal: controller.signal,
    });
    writer.push('first');
    writer.push('second');
    controller.abort();
    expect(await writer.flushed()).toBe(false);
    expect(writer.stalled).toBe(false);
    expect(sink.written).toEqual(['first']);
  });
});
