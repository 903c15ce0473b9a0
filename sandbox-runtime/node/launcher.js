'use strict';
// In-sandbox launcher for Node.js: PID 1 of every Node sandbox container. Same protocol as
// sandbox-runtime/python/launcher.py (read that file's header): wait for the start line, run the
// program as a child with its own pipes, relay its output as frames, send artifacts, end with a
// nonce-carrying result frame.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const FRAME_STDOUT = 1;
const FRAME_STDERR = 2;
const FRAME_RESULT = 3;
const FRAME_ARTIFACT = 4;
const JOB_DIR = '/sandbox/job';
const WORK_DIR = '/work';
const ARTIFACTS_DIR = path.join(WORK_DIR, 'artifacts');
// After the program exits, how long buffered output may still be collected: a background process
// it left behind can hold the pipes open forever and must not hold the result back.
const DRAIN_AFTER_EXIT_MS = 100;

function writeFrame(type, payload) {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  writeAll(Buffer.concat([header, payload]));
}

function writeAll(buffer) {
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(1, buffer, offset);
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
    }
  }
}

function readStartLine() {
  const chunks = [];
  const byte = Buffer.alloc(1);
  for (;;) {
    let read;
    try {
      read = fs.readSync(0, byte, 0, 1, null);
    } catch (error) {
      if (error.code === 'EAGAIN') continue;
      throw error;
    }
    if (read === 0) return null;
    if (byte[0] === 0x0a) return Buffer.concat(chunks).toString('utf8');
    chunks.push(Buffer.from(byte));
  }
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

function childEnvironment() {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    NODE_PATH: '/usr/lib/nodejs:/usr/share/nodejs',
  };
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
    const size = fs.statSync(path.join(ARTIFACTS_DIR, name)).size;
    if (sentCount >= limits.max_count) {
      skipped.push({ name, reason: `more than ${limits.max_count} artifacts` });
      continue;
    }
    if (sentBytes + size > limits.max_bytes) {
      skipped.push({ name, reason: `artifacts would exceed ${limits.max_bytes} bytes` });
      continue;
    }
    const content = fs.readFileSync(path.join(ARTIFACTS_DIR, name));
    if (sentBytes + content.length > limits.max_bytes) {
      skipped.push({ name, reason: `artifacts would exceed ${limits.max_bytes} bytes` });
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

function main() {
  const startLine = readStartLine();
  if (startLine === null) return; // the host went away before the job was ready
  const { nonce } = JSON.parse(startLine);
  const job = JSON.parse(fs.readFileSync(path.join(JOB_DIR, 'job.json'), 'utf8'));
  linkInputFiles(job.files || []);
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });

  const stdinFd = fs.openSync(path.join(JOB_DIR, 'stdin'), 'r');
  const started = process.hrtime.bigint();
  // The runner runs the program in every mode: as the main module (script), or by calling main().
  const child = spawn(process.execPath, [path.join(__dirname, 'runner.js'), job.mode, job.entry], {
    cwd: WORK_DIR,
    env: childEnvironment(),
    stdio: [stdinFd, 'pipe', 'pipe', 'pipe'],
  });
  fs.closeSync(stdinFd);
  const reportChunks = [];
  let reportBytes = 0;
  child.stdout.on('data', (chunk) => writeFrame(FRAME_STDOUT, chunk));
  child.stderr.on('data', (chunk) => writeFrame(FRAME_STDERR, chunk));
  child.stdio[3].on('data', (chunk) => {
    reportBytes += chunk.length;
    if (reportBytes <= job.max_result_bytes + 4096) reportChunks.push(chunk);
  });

  let finished = false;
  const finish = (code, signal) => {
    if (finished) return;
    finished = true;
    const runMs = Number(process.hrtime.bigint() - started) / 1e6;
    const { exitCode, signal: signalNumber } = exitStatus(code, signal);
    let report = {};
    if (reportBytes > job.max_result_bytes + 4096) {
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
    const skippedArtifacts = sendArtifacts(job.artifacts);
    const result = {
      nonce,
      exit_code: exitCode,
      signal: signalNumber,
      run_ms: Math.round(runMs * 1000) / 1000,
      max_rss_kb: report.max_rss_kb || 0,
      mode: report.mode || job.mode,
      function_result: report.function_result ?? null,
      skipped_artifacts: skippedArtifacts,
    };
    writeFrame(FRAME_RESULT, Buffer.from(JSON.stringify(result)));
    process.exit(0);
  };
  child.on('close', (code, signal) => finish(code, signal));
  child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), DRAIN_AFTER_EXIT_MS));
}

main();
