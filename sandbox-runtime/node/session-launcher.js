'use strict';
// In-sandbox launcher of a Node.js session: PID 1 of a session container. Same commands, frames and
// nonce rule as sandbox-runtime/python/session_launcher.py (read that file's header), all defined in
// ../protocol.json; the interpreter
// is session-kernel.js, a child process holding one persistent vm context, told cells on fd 4 and
// answering on fd 3, its stdout/stderr relayed as frames.
//
// Who can reach what (the Python launcher's header says why): started as uid 0 with only CAP_SETUID and
// CAP_SETGID, this launcher at once takes the kernel user's effective ids (protocol.json
// session.kernel_user; real and saved ids stay 0) and starts the interpreter as that user without
// capabilities, so the interpreter cannot open its stdin or stdout through /proc/1/fd (EACCES), read its
// memory or trace it (session-kernel-channel.js). Node has no openat: session file paths are walked with
// lstat, any link refused, and what is opened must be on /work's own filesystem (session-files.js).
//
// After a restore from a checkpoint the host drives this launcher through its bridge socket instead of
// stdin and stdout (protocol.json session.bridge_socket says why): listenForBridge() below. "The host's
// commands" and "frames" below go over whichever of the two is the control channel.
const fs = require('fs');
const net = require('net');
const path = require('path');
const { createInterface } = require('readline');
const {
  PROTOCOL,
  writeFrame,
  setFrameOutput,
  writeReply: reply,
  startEgressRelay,
} = require('./protocol.js');
const { actAsKernelUser, asUid0, Kernel } = require('./session-kernel-channel.js');
const { upload, download, list } = require('./session-files.js');

const { result: FRAME_RESULT, ready: FRAME_READY, display: FRAME_DISPLAY } = PROTOCOL.frames;
const JOB_DIR = PROTOCOL.paths.job_dir;
const BRIDGE_SOCKET = PROTOCOL.session.bridge_socket;
// After SIGINT, how long a cell has to stop before its interpreter is restarted.
const INTERRUPT_GRACE_MS = PROTOCOL.session.interrupt_grace_ms;

// Once bridged, stderr is the restored sandbox's, which may lead nowhere (a blocking write there could
// stall the launcher): diagnostics are dropped.
let bridged = false;

function diagnostic(message) {
  if (!bridged) process.stderr.write(`session launcher: ${message}\n`);
}

async function execute(kernel, command, interrupts) {
  const started = process.hrtime.bigint();
  kernel.relaying = true;
  let graceTimer;
  const outcome = await new Promise((resolve) => {
    kernel.onReport = (record) => resolve({ record });
    kernel.onExit = () => resolve({ died: kernel.exitStatus });
    interrupts.current = () => {
      kernel.interrupt();
      graceTimer = setTimeout(() => resolve({ stuck: true }), INTERRUPT_GRACE_MS);
    };
    kernel.run(command.code);
  }).finally(() => {
    clearTimeout(graceTimer);
    interrupts.current = undefined;
  });
  let result;
  if (outcome.record) {
    await kernel.settleOutput();
    kernel.relaying = false;
    const { status, detail, value, execution_count: executionCount } = outcome.record;
    if (value !== undefined) {
      writeFrame(
        FRAME_DISPLAY,
        Buffer.from(JSON.stringify({ kind: 'execute_result', data: { 'text/plain': value } })),
      );
    }
    result = { status, detail, kernel_restarted: false, execution_count: executionCount };
  } else {
    kernel.relaying = false;
    await kernel.restart();
    result = outcome.stuck
      ? {
          status: 'interrupted',
          detail:
            'the cell did not stop when interrupted; the interpreter was restarted and its variables are lost',
        }
      : {
          status: 'error',
          detail: `the interpreter exited (${outcome.died}); it was restarted and its variables are lost`,
        };
    Object.assign(result, { kernel_restarted: true, execution_count: 0 });
  }
  const runMs = Number(process.hrtime.bigint() - started) / 1e6;
  writeFrame(
    FRAME_RESULT,
    Buffer.from(JSON.stringify({ nonce: command.nonce, ...result, run_ms: runMs, max_rss_kb: 0 })),
  );
}

/**
 * Reads the host's commands from stdin (from the bridge socket once it connects, see readFrom): an
 * interrupt goes through at once (while a cell runs), every other command waits its turn in the
 * returned queue, whose `next()` resolves with the next one.
 */
function readCommands(interrupts) {
  const commands = [];
  let wake;
  const onLine = (line) => {
    let command;
    try {
      command = JSON.parse(line);
    } catch {
      diagnostic('unreadable command');
      return;
    }
    // An interrupt must get through while a cell runs; everything else waits its turn.
    if (command.op === 'interrupt') {
      if (interrupts.current) interrupts.current();
      return;
    }
    commands.push(command);
    if (wake) wake();
  };
  const readFrom = (input) => {
    const lines = createInterface({ input });
    lines.on('line', onLine);
    // The host let go of the sandbox: the input ended, or (the bridge socket) broke, which readline
    // passes on as an error without a close.
    lines.on('close', () => process.exit(0));
    lines.on('error', () => process.exit(0));
    return lines;
  };
  let lines = readFrom(process.stdin);
  return {
    async next() {
      if (commands.length === 0) await new Promise((resolve) => (wake = resolve));
      return commands.shift();
    },
    /** Commands come from `input` from now on; the end of the earlier input no longer ends the launcher. */
    readFrom(input) {
      for (const event of ['close', 'line', 'error']) lines.removeAllListeners(event);
      lines.close();
      lines = readFrom(input);
    },
  };
}

/**
 * Serves the control channel on the bridge socket too, in a directory made by uid 0 with mode 0700, so
 * only uid 0 (the host's `docker exec` of node/session-bridge.js) can connect. A connection takes the
 * channel over: commands are read from it and frames written to it; while the socket has more queued
 * than it takes at once, the kernel's output is held in its pipes (as a blocking stdout would hold
 * it), so a cell that prints faster than the host reads cannot make this process buffer without
 * bound. Called before the interpreter exists, so no cell can have taken the socket's name first.
 * Only as PID 1 of a sandbox: a launcher run as a plain process (the conformance tests) has no bridge.
 */
function listenForBridge(commands, kernel) {
  if (process.pid !== 1) return;
  let current;
  const server = net.createServer((socket) => {
    if (current) current.destroy(); // the host's newest bridge is the one that counts
    current = socket;
    bridged = true;
    setFrameOutput((frame) => {
      if (!socket.write(frame)) {
        kernel.holdOutput();
        socket.once('drain', () => kernel.releaseOutput());
      }
    });
    commands.readFrom(socket);
  });
  server.on('error', (error) => diagnostic(`no bridge socket: ${error.message}`));
  asUid0(() => {
    fs.mkdirSync(path.dirname(BRIDGE_SOCKET), { mode: 0o700 });
    server.listen(BRIDGE_SOCKET); // binds at once, with the ids in effect now
  });
}

async function main() {
  // At boot, before the interpreter exists (a warm sandbox is claimed later; the host binds each
  // cell's policy to the proxy behind the socket).
  let dropped;
  try {
    // First: everything below (the egress relay, session files) is done with the kernel user's rights.
    dropped = actAsKernelUser();
  } catch (error) {
    diagnostic(`cannot act as the kernel user: ${error.message}`); // never run an interpreter as uid 0
    process.exit(1);
  }
  const interrupts = { current: undefined };
  const commands = readCommands(interrupts);
  const proxyEnvironment = await startEgressRelay(JOB_DIR);
  const kernel = new Kernel(proxyEnvironment, dropped);
  if (dropped) listenForBridge(commands, kernel);
  try {
    await kernel.start();
  } catch (error) {
    diagnostic(`the interpreter did not start: ${error.message}`);
    process.exit(1);
  }
  writeFrame(FRAME_READY, Buffer.alloc(0));

  const handlers = { upload, download, list };
  for (;;) {
    const command = await commands.next();
    try {
      if (command.op === 'execute') await execute(kernel, command, interrupts);
      else if (handlers[command.op]) handlers[command.op](command);
      else diagnostic(`unknown command ${JSON.stringify(command.op)}`);
    } catch (error) {
      if (command.op === 'execute') throw error;
      const notFound = error.code === 'ENOENT';
      reply(command.nonce, {
        ok: false,
        error: notFound ? 'not_found' : error.code === 'ELINKREFUSED' ? 'link' : 'failed',
        message: notFound ? 'no such file' : error.message,
      });
    }
  }
}

main().catch((error) => {
  diagnostic(`failed: ${error && error.stack}`);
  process.exit(1);
});
