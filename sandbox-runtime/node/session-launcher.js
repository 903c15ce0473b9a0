'use strict';
// In-sandbox launcher of a Node.js session: PID 1 of a session container. Same commands, frames and
// nonce rule as sandbox-runtime/python/session_launcher.py (read that file's header), all defined in
// ../protocol.json; the interpreter
// is session-kernel.js, a child process holding one persistent vm context, told cells on fd 4 and
// answering on fd 3, its stdout/stderr relayed as frames.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { createInterface } = require('readline');
const {
  PROTOCOL,
  REPORT_FD,
  CONTROL_FD,
  BASE_ENVIRONMENT,
  writeFrame,
  startEgressRelay,
} = require('./protocol.js');

const {
  stdout: FRAME_STDOUT,
  stderr: FRAME_STDERR,
  result: FRAME_RESULT,
  ready: FRAME_READY,
  display: FRAME_DISPLAY,
  reply: FRAME_REPLY,
} = PROTOCOL.frames;
const JOB_DIR = PROTOCOL.paths.job_dir;
const INBOX_DIR = path.join(JOB_DIR, PROTOCOL.session.inbox_dir);
const WORK_DIR = PROTOCOL.paths.work_dir;
// After SIGINT, how long a cell has to stop before its interpreter is restarted.
const INTERRUPT_GRACE_MS = PROTOCOL.session.interrupt_grace_ms;

function reply(nonce, body, content = Buffer.alloc(0)) {
  writeFrame(FRAME_REPLY, Buffer.concat([Buffer.from(`${JSON.stringify({ nonce, ...body })}\n`), content]));
}

function diagnostic(message) {
  process.stderr.write(`session launcher: ${message}\n`);
}

function workPath(relative) {
  // The host validated the path (relative, no "..", no NUL); checked again here all the same.
  if (relative.startsWith('/') || relative.includes('\0') || relative.split('/').includes('..')) {
    throw Object.assign(new Error('invalid path'), { code: 'EPERM' });
  }
  return path.join(WORK_DIR, relative);
}

/** The interpreter process: one per session, replaced when it dies or does not yield. */
class Kernel {
  /** `proxyEnvironment`: HTTP(S)_PROXY and NO_PROXY when the server allows egress, else {}. */
  constructor(proxyEnvironment) {
    this.proxyEnvironment = proxyEnvironment;
  }

  start() {
    this.child = spawn(process.execPath, [path.join(__dirname, 'session-kernel.js')], {
      cwd: WORK_DIR,
      env: { ...BASE_ENVIRONMENT, ...this.proxyEnvironment },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    this.exited = false;
    this.outputSeen = 0;
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitStatus = signal || code;
      if (this.onExit) this.onExit();
    });
    this.child.stdout.on('data', (chunk) => this.output(FRAME_STDOUT, chunk));
    this.child.stderr.on('data', (chunk) => this.output(FRAME_STDERR, chunk));
    const lines = createInterface({ input: this.child.stdio[REPORT_FD] });
    return new Promise((resolve, reject) => {
      this.onExit = () => reject(new Error(`the interpreter exited while starting (${this.exitStatus})`));
      lines.on('line', (line) => {
        const record = JSON.parse(line);
        if (record.ready) {
          this.onExit = undefined;
          resolve();
        } else if (this.onReport) {
          this.onReport(record);
        }
      });
    });
  }

  output(type, chunk) {
    this.outputSeen += 1;
    // Output between cells (a timer the code left behind) belongs to no cell: it is dropped.
    if (this.relaying) writeFrame(type, chunk);
  }

  run(code) {
    this.child.stdio[CONTROL_FD].write(`${JSON.stringify({ code })}\n`);
  }

  interrupt() {
    if (!this.exited) this.child.kill('SIGINT');
  }

  async restart() {
    this.onExit = undefined;
    if (!this.exited) {
      const gone = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await gone;
    }
    // From PID 1 of the sandbox: whatever the cell left running. (Never outside a sandbox, where
    // kill(-1) would reach every process of the user.)
    if (process.pid === 1) {
      try {
        process.kill(-1, 'SIGKILL');
      } catch {
        // nothing left
      }
    }
    await this.start();
  }

  /** Resolves once output already written before the report has been relayed. */
  settleOutput() {
    return new Promise((resolve) => {
      const check = (seen) =>
        setImmediate(() => (this.outputSeen === seen ? resolve() : check(this.outputSeen)));
      check(this.outputSeen);
    });
  }
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

function upload(command) {
  const target = workPath(command.path);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temporary = `${target}.upload-${process.pid}`;
  fs.copyFileSync(path.join(INBOX_DIR, path.basename(command.inbox)), temporary);
  fs.renameSync(temporary, target);
  reply(command.nonce, { ok: true, size: fs.statSync(target).size });
}

function download(command) {
  // Non-blocking open: a FIFO the code left there must not hang the session.
  const fd = fs.openSync(workPath(command.path), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    if (stat.size > command.max_bytes) {
      reply(command.nonce, {
        ok: false,
        error: 'too_large',
        message: `larger than ${command.max_bytes} bytes`,
      });
      return;
    }
    const content = Buffer.alloc(stat.size);
    let offset = 0;
    while (offset < content.length) {
      const read = fs.readSync(fd, content, offset, content.length - offset, offset);
      if (read === 0) break;
      offset += read;
    }
    reply(command.nonce, { ok: true, size: offset }, content.subarray(0, offset));
  } finally {
    fs.closeSync(fd);
  }
}

function list(command) {
  const files = [];
  const walk = (relative) => {
    const entries = fs.readdirSync(path.join(WORK_DIR, relative), { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile())
        files.push({ path: child, size: fs.statSync(path.join(WORK_DIR, child)).size });
      if (files.length >= command.max_entries) return true;
    }
    return false;
  };
  const truncated = walk('');
  reply(command.nonce, { ok: true, files: files.slice(0, command.max_entries), truncated });
}

async function main() {
  // At boot, before the interpreter exists (a warm sandbox is claimed later; the host binds each
  // cell's policy to the proxy behind the socket).
  const proxyEnvironment = await startEgressRelay(JOB_DIR);
  const kernel = new Kernel(proxyEnvironment);
  try {
    await kernel.start();
  } catch (error) {
    diagnostic(`the interpreter did not start: ${error.message}`);
    process.exit(1);
  }
  writeFrame(FRAME_READY, Buffer.alloc(0));

  const interrupts = { current: undefined };
  const commands = [];
  let wake;
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
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
  });
  lines.on('close', () => process.exit(0)); // the host let go of the sandbox

  const handlers = { upload, download, list };
  for (;;) {
    if (commands.length === 0) await new Promise((resolve) => (wake = resolve));
    const command = commands.shift();
    try {
      if (command.op === 'execute') await execute(kernel, command, interrupts);
      else if (handlers[command.op]) handlers[command.op](command);
      else diagnostic(`unknown command ${JSON.stringify(command.op)}`);
    } catch (error) {
      if (command.op === 'execute') throw error;
      const notFound = error.code === 'ENOENT';
      reply(command.nonce, {
        ok: false,
        error: notFound ? 'not_found' : 'failed',
        message: notFound ? 'no such file' : error.message,
      });
    }
  }
}

main().catch((error) => {
  diagnostic(`failed: ${error && error.stack}`);
  process.exit(1);
});
