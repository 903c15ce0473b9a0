'use strict';
// A Node session's interpreter: the session-kernel.js process, started as the kernel user (this launcher
// takes that user's effective ids first: session-launcher.js's header says why), its output relayed as
// frames while a cell runs, and its restart, which kills whatever the cell left running. Required by
// session-launcher.js only; the interpreter process requires none of it.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { createInterface } = require('readline');

const { PROTOCOL, REPORT_FD, CONTROL_FD, BASE_ENVIRONMENT, writeFrame } = require('./protocol.js');

const { stdout: FRAME_STDOUT, stderr: FRAME_STDERR } = PROTOCOL.frames;
const WORK_DIR = PROTOCOL.paths.work_dir;
const KERNEL_USER = PROTOCOL.session.kernel_user;
// Passes of killKernelUserProcesses(): each kills every process it lists, so only a process forking as
// fast as the passes run survives them all (the pids limit bounds how many there can be).
const MAX_KILL_PASSES = 100;

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

/** Pids of the kernel user's live processes (zombies left out: a kill cannot end them). */
function kernelUserPids() {
  const pids = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status;
    try {
      status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const realUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (realUid === KERNEL_USER.uid && state !== 'Z' && state !== 'X') pids.push(Number(name));
  }
  return pids;
}

/**
 * Kills every process of the kernel user (whatever a cell left running), pass after pass until a pass
 * finds none (a process may fork between the listing and its kill). Sent by this launcher, which those
 * processes can neither signal nor stop (its real uid is 0), and aimed at them alone: a kill(-1) from
 * here would also reach uid 0's processes, among them the host's bridge to a restored session
 * (session-bridge.js), and end the session.
 */
function killKernelUserProcesses() {
  for (let pass = 0; pass < MAX_KILL_PASSES; pass++) {
    const pids = kernelUserPids();
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
  }
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
    if (this.outputHeld) this.pauseOutputStreams();
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
    if (process.pid === 1) killKernelUserProcesses();
    await this.start();
  }

  /**
   * Leaves the interpreter's output in its pipes until releaseOutput(): the control channel has more
   * queued than it takes at once (a blocking write holds the interpreter the same way).
   */
  holdOutput() {
    if (this.outputHeld) return;
    this.outputHeld = new Promise((resolve) => (this.releaseHeld = resolve));
    this.pauseOutputStreams();
  }

  releaseOutput() {
    if (!this.outputHeld) return;
    this.outputHeld = undefined;
    this.child.stdout.resume();
    this.child.stderr.resume();
    this.releaseHeld();
  }

  pauseOutputStreams() {
    this.child.stdout.pause();
    this.child.stderr.pause();
  }

  /** Resolves once output already written before the report has been relayed (held output included). */
  settleOutput() {
    return new Promise((resolve) => {
      const check = (seen) => {
        if (this.outputHeld) return void this.outputHeld.then(() => check(-1));
        setImmediate(() => (this.outputSeen === seen ? resolve() : check(this.outputSeen)));
      };
      check(this.outputSeen);
    });
  }
}

module.exports = { actAsKernelUser, asUid0, Kernel };
