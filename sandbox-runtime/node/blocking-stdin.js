'use strict';
// The session launcher's stdin (the host's commands), read with blocking reads in a worker thread.
//
// Why not process.stdin: a paused session is checkpointed by gVisor and later restored with new stdio
// pipes from Docker. A blocking read(2) on fd 0 goes on reading the new pipe after the restore, but
// libuv's non-blocking stdin waits on epoll, and this gVisor (20221219) does not deliver readiness of
// the restored host pipe to it: measured, `process.stdin.on('data')` got nothing after a restore while
// a blocking reader (the Python launcher's) got every line.
const fs = require('fs');
const { PassThrough } = require('stream');
const { Worker, isMainThread, parentPort } = require('worker_threads');

const CHUNK_BYTES = 64 * 1024;
const RETRY_MS = 5;

function readLoop() {
  const buffer = Buffer.alloc(CHUNK_BYTES);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let bytes;
    try {
      bytes = fs.readSync(0, buffer, 0, buffer.length, null);
    } catch (error) {
      // A non-blocking fd (set so by whoever opened it) answers EAGAIN while empty: wait a little.
      if (error.code === 'EAGAIN' || error.code === 'EINTR') {
        Atomics.wait(sleeper, 0, 0, RETRY_MS);
        continue;
      }
      break;
    }
    if (bytes === 0) break;
    parentPort.postMessage(Buffer.from(buffer.subarray(0, bytes)));
  }
  parentPort.postMessage(null);
}

/** A readable stream of this process's stdin, fed by blocking reads in a worker thread. */
function blockingStdin() {
  const stream = new PassThrough();
  const worker = new Worker(__filename);
  worker.on('message', (chunk) => (chunk === null ? stream.end() : stream.write(Buffer.from(chunk))));
  worker.on('error', () => stream.end());
  return stream;
}

if (!isMainThread) readLoop();

module.exports = { blockingStdin };
