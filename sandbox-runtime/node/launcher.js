'use strict';
// In-sandbox launcher for Node.js: PID 1 of every Node sandbox container. Same protocol and phases as
// sandbox-runtime/python/launcher.py (read that file's header): boot the program process (runner.js)
// and report READY; on the start line run the job, relay its output as frames, send artifacts, end
// with a nonce-carrying result frame.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const FRAME_STDOUT = 1;
const FRAME_STDERR = 2;
const FRAME_RESULT = 3;
const FRAME_ARTIFACT = 4;
const FRAME_READY = 5;
const JOB_DIR = '/sandbox/job';
const WORK_DIR = '/work';
const ARTIFACTS_DIR = path.join(WORK_DIR, 'artifacts');
// After the program exits, how long buffered output may still be collected: a background process
// it left behind can hold the pipes open forever and must not hold the result back.
const DRAIN_AFTER_EXIT_MS = 100;
const REPORT_FD = 3;
const CONTROL_FD = 4;

function writeFrame(type, payload) {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  const buffer = Buffer.concat([header, payload]);
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(1, buffer, offset);
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
    }
  }
}

function diagnostic(message) {
  process.stderr.write(`launcher: ${message}\n`);
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

function linkInputFiles(names) {
  // Input files live on the read-only job mount; links make them appear in the writable work dir
  // while any write through them still fails.
  for (const name of names) {
    const target = path.join(WORK_DIR, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(path.join(JOB_DIR, 'files', name), target);
  }
}

function listArtifacts(directory, prefix = '') {
  let entries;
  try {
    entries = fs.readdirSync(path.join(directory, prefix), { withFileTypes: true });
  } catch {
    return [];
  }
  const files = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...listArtifacts(directory, relative));
    else if (entry.isFile()) files.push(relative); // symlinks are not something the program produced
  }
  return files;
}

function sendArtifacts(limits) {
  const skipped = [];
  let sentCount = 0;
  let sentBytes = 0;
  for (const name of listArtifacts(ARTIFACTS_DIR)) {
    const tooBig = { name, reason: `artifacts would exceed ${limits.max_bytes} bytes` };
    if (sentCount >= limits.max_count) {
      skipped.push({ name, reason: `more than ${limits.max_count} artifacts` });
      continue;
    }
    if (sentBytes + fs.statSync(path.join(ARTIFACTS_DIR, name)).size > limits.max_bytes) {
      skipped.push(tooBig);
      continue;
    }
    const content = fs.readFileSync(path.join(ARTIFACTS_DIR, name));
    if (sentBytes + content.length > limits.max_bytes) {
      skipped.push(tooBig);
      continue;
    }
    const header = Buffer.from(JSON.stringify({ name, size: content.length }));
    writeFrame(FRAME_ARTIFACT, Buffer.concat([header, Buffer.from('\n'), content]));
    sentCount += 1;
    sentBytes += content.length;
  }
  return skipped;
}

function exitStatus(code, signal) {
  // Shell convention, as in Docker: killed by signal N reads as 128 + N.
  if (signal) {
    const number = require('os').constants.signals[signal] || 0;
    return { exitCode: 128 + number, signal: number };
  }
  return { exitCode: code ?? 0, signal: 0 };
}

/**
 * Stops everything the program left running, then idles until the host lets go of the sandbox (stdin
 * closes) or kills it: an immediate exit would stop the container now, which costs the host CPU right
 * when the next execution may be starting; the host removes used sandboxes a little later instead.
 */
function linger() {
  try {
    process.kill(-1, 'SIGKILL'); // from PID 1: every other process in the sandbox
  } catch {
    // nothing left to stop
  }
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function main() {
  const preload = process.argv[2] || '';
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const proxyEnvironment = await require('./egress-relay.js').start();
  const child = spawn(process.execPath, [path.join(__dirname, 'runner.js'), preload], {
    cwd: WORK_DIR,
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/tmp',
      TMPDIR: '/tmp',
      LANG: 'C.UTF-8',
      ...proxyEnvironment,
    },
    // fd 3: report (runner → launcher), fd 4: control (launcher → runner).
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
  });
  const reportPipe = child.stdio[REPORT_FD];
  const reportChunks = [];
  let reportBytes = 0;
  const collectReport = (chunk) => {
    reportBytes += chunk.length;
    if (reportBytes <= 64 * 1024 * 1024) reportChunks.push(chunk);
  };
  const readyLine = await firstLine(reportPipe, collectReport);
  if (readyLine === null) {
    diagnostic('the program process died while starting');
    process.exit(1);
  }
  for (const problem of JSON.parse(readyLine).preload_errors || []) diagnostic(`preload failed: ${problem}`);
  reportPipe.on('data', collectReport);
  writeFrame(FRAME_READY, Buffer.alloc(0));

  // The nonce is read only now, after the program process exists: it is never in its memory.
  const goLine = await firstLine(process.stdin);
  if (goLine === null) process.exit(0); // the host went away before a job came
  process.stdin.pause();
  const { nonce } = JSON.parse(goLine);
  const job = JSON.parse(fs.readFileSync(path.join(JOB_DIR, 'job.json'), 'utf8'));
  linkInputFiles(job.files || []);

  const started = process.hrtime.bigint();
  child.stdout.on('data', (chunk) => writeFrame(FRAME_STDOUT, chunk));
  child.stderr.on('data', (chunk) => writeFrame(FRAME_STDERR, chunk));
  child.stdio[CONTROL_FD].end('start\n');
  child.stdin.on('error', () => undefined); // the program may stop reading its stdin early
  fs.createReadStream(path.join(JOB_DIR, 'stdin')).pipe(child.stdin);

  let finished = false;
  const finish = (code, signal) => {
    if (finished) return;
    finished = true;
    const runMs = Number(process.hrtime.bigint() - started) / 1e6;
    const { exitCode, signal: signalNumber } = exitStatus(code, signal);
    let report = {};
    if (reportBytes > job.max_result_bytes + 65536) {
      report = {
        function_result: {
          error: `main() returned a value larger than ${job.max_result_bytes} bytes as JSON`,
        },
      };
    } else if (reportBytes > 0) {
      try {
        report = JSON.parse(Buffer.concat(reportChunks).toString('utf8'));
      } catch {
        report = { function_result: { error: 'main() result could not be read' } };
      }
    }
    const result = {
      nonce,
      exit_code: exitCode,
      signal: signalNumber,
      run_ms: Math.round(runMs * 1000) / 1000,
      max_rss_kb: report.max_rss_kb || 0,
      mode: report.mode || job.mode,
      function_result: report.function_result ?? null,
      skipped_artifacts: sendArtifacts(job.artifacts),
    };
    writeFrame(FRAME_RESULT, Buffer.from(JSON.stringify(result)));
    linger();
  };
  child.on('close', (code, signal) => finish(code, signal));
  child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), DRAIN_AFTER_EXIT_MS));
}

main().catch((error) => {
  diagnostic(`failed: ${error && error.stack}`);
  process.exit(1);
});
