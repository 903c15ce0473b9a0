'use strict';
// ../protocol.json, the host ↔ sandbox contract shared with the host and the Python launchers, the
// one way to fill its message templates (the same "{name}" placeholders Python's str.format fills),
// the one way to write frames and records, and what both launchers (one-shot and session) start their
// program process from: the base environment and the egress relay.
const fs = require('fs');
const path = require('path');

const PROTOCOL = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'protocol.json'), 'utf8'));

// A launcher's pipes to its program process (runner.js, session-kernel.js): the report, which the
// program process writes JSON lines to, and the control, which the launcher writes to.
const REPORT_FD = 3;
const CONTROL_FD = 4;

// The environment every program or interpreter in a sandbox starts from (nothing of the launcher's own).
const BASE_ENVIRONMENT = Object.freeze({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
});

/** message('result_too_large', { max: 5 }) → "main() returned a value larger than 5 bytes as JSON". */
function message(name, values = {}) {
  return PROTOCOL.messages[name].replace(/\{(\w+)\}/g, (whole, key) =>
    key in values ? String(values[key]) : whole,
  );
}

/**
 * Writes all of `buffer` to `fd` synchronously (a frame or a record is never left half-written, nor
 * interleaved with a later write); retries while a non-blocking fd is full, throws any other error.
 */
function writeAll(fd, buffer) {
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(fd, buffer, offset);
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
    }
  }
}

// Where frames go: stdout, unless a restored session's launcher switched to its bridge socket
// (session-launcher.js). Either way a frame is handed over whole, in order.
let frameOutput = (frame) => writeAll(1, frame);

/** From now on frames go to `write` (called with each whole frame). */
function setFrameOutput(write) {
  frameOutput = write;
}

/**
 * A frame on stdout (or the bridge socket, see setFrameOutput): 1 byte type, 3 zero bytes, 4 bytes
 * big-endian length (Docker's attach header), payload.
 */
function writeFrame(type, payload) {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  frameOutput(Buffer.concat([header, payload]));
}

/** A session's reply frame: a JSON reply_header line echoing the operation's nonce, then `content`. */
function writeReply(nonce, body, content = Buffer.alloc(0)) {
  writeFrame(
    PROTOCOL.frames.reply,
    Buffer.concat([Buffer.from(`${JSON.stringify({ nonce, ...body })}\n`), content]),
  );
}

/** One JSON line on the report pipe; false when the launcher is gone. */
function writeRecord(record) {
  try {
    writeAll(REPORT_FD, Buffer.from(`${JSON.stringify(record)}\n`));
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the egress relay when the host put its socket in `jobDir`; resolves with the proxy variables
 * for the program (HTTP(S)_PROXY, NO_PROXY), or {} when there is no socket.
 */
function startEgressRelay(jobDir) {
  return require('./egress-relay.js').start(path.join(jobDir, PROTOCOL.paths.egress_socket), PROTOCOL.egress);
}

module.exports = {
  PROTOCOL,
  REPORT_FD,
  CONTROL_FD,
  BASE_ENVIRONMENT,
  message,
  writeFrame,
  setFrameOutput,
  writeReply,
  writeRecord,
  startEgressRelay,
};
