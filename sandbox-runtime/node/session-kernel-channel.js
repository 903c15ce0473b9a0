'use strict';
// A Node session's interpreter: the session-kernel.js process, started as the kernel user (this launcher
// takes that user's effective ids first: session-launcher.js's header says why), its output relayed as
// frames while a cell runs, and its restart, which kills whatever the cell left running. Required by
// session-launcher.js only; the interpreter process requires none of it.
const path = require('path');
const { spawn } = require('child_process');
const { createInterface } = require('readline');

const { PROTOCOL, REPORT_FD, CONTROL_FD, BASE_ENVIRONMENT, writeFrame } = require('./protocol.js');

const { stdout: FRAME_STDOUT, stderr: FRAME_STDERR } = PROTOCOL.frames;
const WORK_DIR = PROTOCOL.paths.work_dir;
const KERNEL_USER = PROTOCOL.session.kernel_user;

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

/** Runs `act` with effective uid 0 (after actAsKernelUser(): its real and saved uid allow it), then back. */
function asUid0(act) {
  process.seteuid(0);
  try {
    return act();
  } finally {
    process.seteuid(KERNEL_USER.uid);
  }
}

/** spawn() as the kernel user: effective uid 0 (CAP_SETUID/CAP_SETGID) only while spawn() runs. */
function spawnAsKernelUser(dropped, command, args, options) {
  if (!dropped) return spawn(command, args, options);
  return asUid0(() => spawn(command, args, { ...options, uid: KERNEL_USER.uid, gid: KERNEL_USER.gid }));
}

/**
 * Kills every process of the kernel user: whatever a cell left running. The kill(-1) is sent by a shell
 * running as that user, so it reaches that user's processes only (and not the shell itself); sent by
 * this launcher, whose real uid is 0, it would also reach uid 0's, among them the host's bridge to a
 * restored session (session-bridge.js), which would end the session.
 */
function killKernelUserProcesses(dropped) {
  return new Promise((resolve) => {
    const killer = spawnAsKernelUser(dropped, '/bin/sh', ['-c', 'kill -9 -1'], { stdio: 'ignore', env: {} });
    killer.on('exit', resolve);
    killer.on('error', resolve);
  });
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
        env: {
          ...BASE_ENVIRONMENT,
          ...this.proxyEnvironment,
          // What `packages` and `%npm install` put into the session (docs/packages.md): require()
          // finds it through NODE_PATH (the host made the directory before the sandbox started).
          NODE_PATH: path.join(PROTOCOL.paths.job_dir, PROTOCOL.packages.nodejs_dir),
        },
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
    if (process.pid === 1) await killKernelUserProcesses(this.dropped);
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

module.exports = { actAsKernelUser, asUid0, Kernel };
