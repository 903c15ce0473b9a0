/*
 * `await using` and `[Symbol.asyncDispose]` need the well-known symbols. Node.js has them from 20.4;
 * on an older Node 20 define them as the very symbols Node itself registers, so code compiled
 * against either (ours, or the caller's downlevelled `await using`) agrees. Never overwrites.
 */
const symbols = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
symbols.dispose ??= Symbol.for('nodejs.dispose');
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');

export {};
