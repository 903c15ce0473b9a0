/**
 * Resolves when `promise` settles (either way) or `ms` pass, whichever is first: for waits on Docker or
 * containerd that are worth a bounded moment, never an unbounded one.
 */
export function withinMs(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        resolve();
      });
  });
}
