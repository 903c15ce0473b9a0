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
// memory or trace it. Node has no openat: session file paths are walked with lstat, any link refused,
// and what is opened must be on /work's own filesystem (see openInWork).
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
const KERNEL_USER = PROTOCOL.session.kernel_user;
const { O_NOFOLLOW, O_RDONLY } = fs.constants;

/**
 * Started as uid 0 (a session container): from now on act as the kernel user, keeping uid 0 only as the
 * real and saved ids that let spawnAsKernelUser() set the interpreter's ids. Returns whether it did.
 */
function actAsKernelUser() {
  if (process.getuid() !== 0) return false;
  process.setgroups([]);
  process.setegid(KERNEL_USER.gid);
  process.seteuid(KERNEL_USER.uid);
  return true;
}

/** spawn() as the kernel user: effective uid 0 (CAP_SETUID/CAP_SETGID) only while spawn() runs. */
function spawnAsKernelUser(dropped, command, args, options) {
  if (!dropped) return spawn(command, args, options);
  process.seteuid(0);
  try {
    return spawn(command, args, { ...options, uid: KERNEL_USER.uid, gid: KERNEL_USER.gid });
  } finally {
    process.seteuid(KERNEL_USER.uid);
  }
}

function reply(nonce, body, content = Buffer.alloc(0)) {
  writeFrame(FRAME_REPLY, Buffer.concat([Buffer.from(`${JSON.stringify({ nonce, ...body })}\n`), content]));
}

function diagnostic(message) {
  process.stderr.write(`session launcher: ${message}\n`);
}

/** An error the host answers with INVALID_ARGUMENT and this message (the reply's error is "link"). */
function linkRefused(name, what = 'is a symbolic link') {
  return Object.assign(new Error(`'${name}' ${what}; session files never follow links`), {
    code: 'ELINKREFUSED',
  });
}

function pathParts(relative) {
  // The host validated the path (relative, no "..", no NUL); checked again here all the same.
  const parts = relative.split('/').filter((part) => part !== '' && part !== '.');
  if (relative.startsWith('/') || relative.includes('\0') || parts.includes('..') || parts.length === 0) {
    throw Object.assign(new Error('invalid path'), { code: 'EPERM' });
  }
  return parts;
}

/**
 * Walks WORK_DIR/parts[0..n-2] refusing any link (lstat; `create`: makes the missing directories) and
 * returns the path of the last component, refused if it is a link. Node has no openat, so between this
 * check and the open the code could swap a checked directory for a link; openInWork() closes that gap
 * by refusing whatever it opened unless it lies on /work's own filesystem, where everything is the
 * code's anyway (and the launcher acts with the kernel user's rights, so a swap gains nothing else).
 */
function checkedPath(parts, create) {
  let current = WORK_DIR;
  for (const [index, part] of parts.entries()) {
    current = path.join(current, part);
    let stat;
    try {
      stat = fs.lstatSync(current);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
      if (index === parts.length - 1) break; // still to be made (upload) or missing (open says so)
      if (!create) throw error;
      fs.mkdirSync(current);
      stat = fs.lstatSync(current);
    }
    if (stat.isSymbolicLink()) throw linkRefused(part);
  }
  return current;
}

/** Opens WORK_DIR/parts with O_NOFOLLOW, after checkedPath(); refuses what is not on /work's filesystem. */
function openInWork(parts, flags, mode) {
  const target = checkedPath(parts, false);
  let fd;
  try {
    fd = fs.openSync(target, flags | O_NOFOLLOW, mode);
  } catch (error) {
    if (error.code === 'ELOOP') throw linkRefused(parts[parts.length - 1]);
    throw error;
  }
  if (fs.fstatSync(fd).dev !== fs.statSync(WORK_DIR).dev) {
    fs.closeSync(fd);
    throw linkRefused(parts.join('/'), 'led out of /work (a directory on the way became a link)');
  }
  return fd;
}

/** The interpreter process: one per session, replaced when it dies or does not yield. */
class Kernel {
  /** `proxyEnvironment`: HTTP(S)_PROXY and NO_PROXY when the server allows egress, else {}. */
  constructor(proxyEnvironment, dropped) {
    this.proxyEnvironment = proxyEnvironment;
    this.dropped = dropped;
  }

  start() {
    this.child = spawnAsKernelUser(
      this.dropped,
      process.execPath,
      [path.join(__dirname, 'session-kernel.js')],
      {
        cwd: WORK_DIR,
        env: { ...BASE_ENVIRONMENT, ...this.proxyEnvironment },
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      },
    );
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
  const parts = pathParts(command.path);
  const directory = parts.slice(0, -1);
  const name = parts[parts.length - 1];
  const temporary = [...directory, `${name}.upload-${process.pid}`];
  checkedPath([...directory, name], true);
  try {
    fs.unlinkSync(path.join(WORK_DIR, ...temporary));
  } catch {
    // none left from an earlier upload
  }
  const fd = openInWork(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o666);
  try {
    fs.writeFileSync(fd, fs.readFileSync(path.join(INBOX_DIR, path.basename(command.inbox))));
  } finally {
    fs.closeSync(fd);
  }
  // rename() never follows a link: whatever the code put at the target meanwhile is replaced.
  try {
    fs.renameSync(path.join(WORK_DIR, ...temporary), checkedPath(parts, false));
  } catch (error) {
    fs.rmSync(path.join(WORK_DIR, ...temporary), { force: true });
    throw error;
  }
  reply(command.nonce, { ok: true, size: fs.lstatSync(path.join(WORK_DIR, ...parts)).size });
}

function download(command) {
  // Non-blocking open: a FIFO the code left there must not hang the session.
  const fd = openInWork(pathParts(command.path), O_RDONLY | fs.constants.O_NONBLOCK);
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
  const workDevice = fs.statSync(WORK_DIR).dev;
  const walk = (relative) => {
    const directory = path.join(WORK_DIR, relative);
    // A directory swapped for a link since its parent was read: not listed (a link to a directory on
    // /work's own filesystem shows only what the code could list itself).
    // Not O_DIRECTORY: this gVisor follows a link despite O_NOFOLLOW when O_DIRECTORY is set (measured).
    const opened = fs.openSync(directory, O_RDONLY | O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const stat = fs.fstatSync(opened);
      if (!stat.isDirectory() || stat.dev !== workDevice) return false;
    } finally {
      fs.closeSync(opened);
    }
    // withFileTypes: the types of the entries themselves (a link is neither a file nor a directory).
    const entries = fs.readdirSync(directory, { withFileTypes: true });
    const subdirectories = [];
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) subdirectories.push(child);
      else if (entry.isFile()) {
        let size;
        try {
          size = fs.lstatSync(path.join(WORK_DIR, child)).size;
        } catch {
          continue; // removed since it was listed
        }
        files.push({ path: child, size });
        if (files.length >= command.max_entries) return true;
      }
    }
    for (const child of subdirectories) {
      try {
        if (walk(child)) return true;
      } catch {
        // removed or swapped for a link since it was listed
      }
    }
    return false;
  };
  const truncated = walk('');
  reply(command.nonce, { ok: true, files, truncated });
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
  const proxyEnvironment = await startEgressRelay(JOB_DIR);
  const kernel = new Kernel(proxyEnvironment, dropped);
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
