'use strict';
// The one-shot launcher's program process: starting runner.js (before any job exists), collecting and
// reading what it writes on its report pipe, its exit status, and killing it and everything it left
// running. Required by launcher.js only; the program process is runner.js alone, so nothing of the
// launcher's (such as the nonce) is in its memory.
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const { PROTOCOL, BASE_ENVIRONMENT, message } = require('./protocol.js');

const { caps: CAPS } = PROTOCOL;
// One V8 worker thread instead of four: a sandbox has one CPU by default, and each thread costs
// milliseconds to create under gVisor's ptrace platform. With the JIT, unlike the launcher: the
// program's code must run at full speed.
const PROGRAM_NODE_OPTIONS = ['--v8-pool-size=1'];

/** Starts runner.js, which requires `preload` and waits for the start line on its control pipe. */
function startRunner(preload, proxyEnvironment, jobDir, workDir) {
  return spawn(process.execPath, [...PROGRAM_NODE_OPTIONS, path.join(__dirname, 'runner.js'), preload], {
    cwd: workDir,
    env: {
      ...BASE_ENVIRONMENT,
      SANDBOX_JOB_DIR: jobDir, // read and removed by runner.js before the program runs
      ...proxyEnvironment,
    },
    // fd 3: report (runner → launcher), fd 4: control (launcher → runner).
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true, // its own process group: see stopEverything()
  });
}

/**
 * Collects the report pipe's bytes: all are counted, only the first `limit` kept (the limit grows once
 * the job's max_result_bytes is known). readReport() reads them.
 */
class ReportCollector {
  constructor(limit) {
    this.chunks = [];
    this.bytes = 0;
    this.limit = limit;
    this.add = (chunk) => {
      this.bytes += chunk.length;
      if (this.bytes <= this.limit) this.chunks.push(chunk);
    };
  }
}

/** Resolves with the first line of `stream` (without the newline), or null at its end. */
function firstLine(stream, onRest = () => undefined) {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(0x0a);
      if (newline < 0) return;
      stream.off('data', onData);
      stream.off('end', onEnd);
      onRest(buffered.subarray(newline + 1));
      resolve(buffered.subarray(0, newline).toString('utf8'));
    };
    const onEnd = () => resolve(null);
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}

/** What the runner wrote on the report pipe at its exit: untrusted, the program runs in that process. */
function readReport(chunks, bytes, maxResultBytes) {
  if (bytes > maxResultBytes + CAPS.report_slack_bytes) {
    return { function_result: { error: message('result_too_large', { max: maxResultBytes }) } };
  }
  if (bytes === 0) return {};
  let record;
  try {
    record = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    record = undefined;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { function_result: { error: message('result_unreadable') } };
  }
  return record;
}

function exitStatus(code, signal) {
  // Shell convention, as in Docker: killed by signal N reads as 128 + N.
  if (signal) {
    const number = os.constants.signals[signal] || 0;
    return { exitCode: 128 + number, signal: number };
  }
  return { exitCode: code ?? 0, signal: 0 };
}

/** Kills the program and everything it left running. */
function stopEverything(child) {
  try {
    if (process.pid === 1)
      process.kill(-1, 'SIGKILL'); // PID 1 of a sandbox: every other process in it
    else process.kill(-child.pid, 'SIGKILL'); // a plain process (tests): the program's group only
  } catch {
    // nothing left to stop
  }
}

module.exports = { startRunner, ReportCollector, firstLine, readReport, exitStatus, stopEverything };
