import { describe, expect, it } from 'vitest';
import { boundedResolver } from '../../src/egress/bounded-resolver.js';

/** A resolver whose lookups end only when the test says so, recording which ran. */
function manualResolver() {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const resolve = (host: string) =>
    new Promise<string[]>((fulfil) => {
      started.push(host);
      finish.set(host, () => fulfil(['192.0.2.1']));
    });
  return { started, resolve, end: (host: string) => finish.get(host)?.() };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('boundedResolver', () => {
  it('runs at most maxConcurrent lookups and starts the next when one ends', async () => {
    const manual = manualResolver();
    const resolve = boundedResolver(manual.resolve, { maxConcurrent: 2 });
    const answers = ['a', 'b', 'c'].map((host) => resolve(host));
    await tick();
    expect(manual.started).toEqual(['a', 'b']);
    manual.end('a');
    await expect(answers[0]).resolves.toEqual(['192.0.2.1']);
    await tick();
    expect(manual.started).toEqual(['a', 'b', 'c']);
  });

  it("times a caller out with ETIMEOUT but keeps the slot until the lookup itself ends, and never starts a gone caller's lookup", async () => {
    const manual = manualResolver();
    const resolve = boundedResolver(manual.resolve, { maxConcurrent: 1, timeoutMs: 50 });
    const first = resolve('stuck');
    const queued = resolve('queued');
    await expect(first).rejects.toMatchObject({ code: 'ETIMEOUT' });
    await expect(queued).rejects.toMatchObject({ code: 'ETIMEOUT' });
    const later = resolve('later');
    await tick();
    expect(manual.started).toEqual(['stuck']); // the stuck lookup still holds the one slot
    manual.end('stuck');
    await tick();
    expect(manual.started).toEqual(['stuck', 'later']); // 'queued' was given up on: never run
    manual.end('later');
    await expect(later).resolves.toEqual(['192.0.2.1']);
  });

  it('passes a failed lookup on as it failed', async () => {
    const resolve = boundedResolver(
      async () => {
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
      { maxConcurrent: 1, timeoutMs: 1_000 },
    );
    await expect(resolve('missing.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
