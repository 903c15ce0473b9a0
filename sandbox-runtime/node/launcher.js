'use strict';
// In-sandbox launcher for Node.js: PID 1 of every Node sandbox container. Same protocol and phases as
// sandbox-runtime/python/launcher.py (read that file's header): boot the program process (runner.js)
// and report READY; on the start line run the job, relay its output as frames, send artifacts, end
// with a nonce-carrying result frame. Frame types, paths, caps, record fields and messages come from
// ../protocol.json, shared with the host and the Python launcher.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const {
  PROTOCOL,
  REPORT_FD,
  CONTROL_FD,
  BASE_ENVIRONMENT,
  message,
  writeFrame,
  startEgressRelay,
} = require('./protocol.js');

const { frames: FRAMES, paths: PATHS, caps: CAPS } = PROTOCOL;
const NAME_FORBIDDEN = new RegExp(PROTOCOL.artifact_name_forbidden_characters);
// Overridable only for the plain-process conformance tests: in a container, the launcher's environment
// is the container spec's, which never sets them.
const JOB_DIR = process.env.CODE_SANDBOX_JOB_DIR || PATHS.job_dir;
const WORK_DIR = process.env.CODE_SANDBOX_WORK_DIR || PATHS.work_dir;
const ARTIFACTS_DIR = path.join(WORK_DIR, PATHS.artifacts_dir);

function diagnostic(text) {
  process.stderr.write(`launcher: ${text}\n`);
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
  // while any write through them still fails. The host refuses reserved paths, so a failure here is
  // only reported, never fatal.
  for (const name of names) {
    const target = path.join(WORK_DIR, name);
    try {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.symlinkSync(path.join(JOB_DIR, PATHS.input_files_dir, name), target);
    } catch (error) {
      diagnostic(`input file ${JSON.stringify(name)} not linked: ${error.message}`);
    }
  }
}

/**
 * Relative paths (Buffers) of the regular files under artifacts/, sorted bytewise, and whether the
 * scan stopped at caps.artifact_scan_entries. Symlinks are left out: an input-file link is not
 * something the program produced.
 */
function listArtifacts() {
  const found = [];
  let seen = 0;
  const pending = [Buffer.alloc(0)];
  while (pending.length > 0) {
    const prefix = pending.pop();
    let entries;
    try {
      const directory = Buffer.concat([Buffer.from(`${ARTIFACTS_DIR}/`), prefix]);
      entries = fs.readdirSync(directory, { withFileTypes: true, encoding: 'buffer' });
    } catch {
      continue;
    }
    for (const entry of entries) {
      seen += 1;
      if (seen > CAPS.artifact_scan_entries) return { names: found.sort(Buffer.compare), scanStopped: true };
      const relative = prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), entry.name]) : entry.name;
      if (entry.isDirectory()) pending.push(relative);
      else if (entry.isFile()) found.push(relative);
    }
  }
  return { names: found.sort(Buffer.compare), scanStopped: false };
}

function artifactNameProblem(raw) {
  let name;
  try {
    name = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return message('artifact_bad_name');
  }
  if (
    raw.length > CAPS.artifact_name_bytes ||
    name.split('/').length > CAPS.artifact_name_depth ||
    NAME_FORBIDDEN.test(name)
  ) {
    return message('artifact_bad_name');
  }
  return undefined;
}

/** Artifacts left out: all are counted, the first caps.skipped_artifacts_listed are named. */
class Skipped {
  constructor() {
    this.total = 0;
    this.listed = [];
  }

  add(raw, reason) {
    this.total += 1;
    if (this.listed.length < CAPS.skipped_artifacts_listed) {
      const name = new TextDecoder('utf-8').decode(raw).slice(0, CAPS.artifact_name_bytes);
      this.listed.push({ name, reason });
    }
  }
}

function sendArtifacts(nonce, limits) {
  const { max_count: maxCount, max_bytes: maxBytes } = limits;
  const skipped = new Skipped();
  let sentCount = 0;
  let sentBytes = 0;
  const { names, scanStopped } = listArtifacts();
  for (const raw of names) {
    const problem = artifactNameProblem(raw);
    if (problem) {
      skipped.add(raw, problem);
      continue;
    }
    if (sentCount >= maxCount) {
      skipped.add(raw, message('too_many_artifacts', { max_count: maxCount }));
      continue;
    }
    const tooBig = message('artifacts_too_big', { max_bytes: maxBytes });
    const file = Buffer.concat([Buffer.from(`${ARTIFACTS_DIR}/`), raw]);
    let content;
    try {
      if (sentBytes + fs.statSync(file).size > maxBytes) {
        skipped.add(raw, tooBig);
        continue;
      }
      content = fs.readFileSync(file);
    } catch (error) {
      skipped.add(raw, `unreadable: ${error.code}`);
      continue;
    }
    if (sentBytes + content.length > maxBytes) {
      skipped.add(raw, tooBig);
      continue;
    }
    const header = Buffer.from(JSON.stringify({ nonce, name: raw.toString('utf8'), size: content.length }));
    writeFrame(FRAMES.artifact, Buffer.concat([header, Buffer.from('\n'), content]));
    sentCount += 1;
    sentBytes += content.length;
  }
  if (scanStopped) {
    skipped.add(
      Buffer.from('\u2026'),
      message('artifact_scan_stopped', { max_entries: CAPS.artifact_scan_entries }),
    );
  }
  return skipped;
}

function exitStatus(code, signal) {
  // Shell convention, as in Docker: killed by signal N reads as 128 + N.
  if (signal) {
    const number = os.constants.signals[signal] || 0;
    return { exitCode: 128 + number, signal: number };
  }
  return { exitCode: code ?? 0, signal: 0 };
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

/** The fields the runner reports, checked for shape (the program could have written them). */
function fromReport(report, job) {
  const { mode, max_rss_kb: maxRssKb, function_result: functionResult } = report;
  return {
    mode: mode === 'script' || mode === 'main' ? mode : job.mode === 'script' ? 'script' : 'main',
    max_rss_kb: Number.isSafeInteger(maxRssKb) && maxRssKb >= 0 ? maxRssKb : 0,
    function_result:
      typeof functionResult === 'object' && functionResult !== null && !Array.isArray(functionResult)
        ? functionResult
        : null,
  };
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

/**
 * Idles until the host lets go of the sandbox (stdin closes) or kills it: an immediate exit would stop
 * the container now, which costs the host CPU right when the next execution may be starting; the host
 * removes used sandboxes a little later instead.
 */
function linger() {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function main() {
  const preload = process.argv[2] || '';
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const proxyEnvironment = await startEgressRelay(JOB_DIR);
  const child = spawn(process.execPath, [path.join(__dirname, 'runner.js'), preload], {
    cwd: WORK_DIR,
    env: {
      ...BASE_ENVIRONMENT,
      SANDBOX_JOB_DIR: JOB_DIR, // read and removed by runner.js before the program runs
      ...proxyEnvironment,
    },
    // fd 3: report (runner → launcher), fd 4: control (launcher → runner).
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true, // its own process group: see stopEverything()
  });
  const reportPipe = child.stdio[REPORT_FD];
  const reportChunks = [];
  let reportBytes = 0;
  let reportLimit = CAPS.boot_report_bytes;
  const collectReport = (chunk) => {
    reportBytes += chunk.length;
    if (reportBytes <= reportLimit) reportChunks.push(chunk);
  };
  const readyLine = await firstLine(reportPipe, collectReport);
  if (readyLine === null) {
    diagnostic(message('program_died_starting'));
    process.exit(1);
  }
  for (const problem of JSON.parse(readyLine).preload_errors || []) diagnostic(`preload failed: ${problem}`);
  reportPipe.on('data', collectReport);
  writeFrame(FRAMES.ready, Buffer.alloc(0));

  // The nonce is read only now, after the program process exists: it is never in its memory.
  const goLine = await firstLine(process.stdin);
  if (goLine === null) process.exit(0); // the host went away before a job came
  process.stdin.pause();
  const { nonce } = JSON.parse(goLine);
  const job = JSON.parse(fs.readFileSync(path.join(JOB_DIR, PATHS.manifest), 'utf8'));
  linkInputFiles(job.files);
  reportLimit = job.max_result_bytes + CAPS.report_slack_bytes;

  const started = process.hrtime.bigint();
  child.stdout.on('data', (chunk) => writeFrame(FRAMES.stdout, chunk));
  child.stderr.on('data', (chunk) => writeFrame(FRAMES.stderr, chunk));
  child.stdio[CONTROL_FD].end('start\n');
  child.stdin.on('error', () => undefined); // the program may stop reading its stdin early
  fs.createReadStream(path.join(JOB_DIR, PATHS.stdin)).pipe(child.stdin);

  let finished = false;
  let runMs = 0;
  // Read once, when nothing more can arrive: every pipe closed, or the run is being finished.
  let report;
  const finalReport = () => (report ??= readReport(reportChunks, reportBytes, job.max_result_bytes));
  const finish = (code, signal) => {
    if (finished) return;
    finished = true;
    const { exitCode, signal: signalNumber } = exitStatus(code, signal);
    // Nothing of the program may run while its artifacts are read (a file swapped for a FIFO or a
    // link mid-scan could block or redirect the launcher), nor after the result.
    stopEverything(child);
    const skipped = sendArtifacts(nonce, job.artifacts);
    const result = {
      nonce,
      exit_code: exitCode,
      signal: signalNumber,
      run_ms: Math.round(runMs * 1000) / 1000,
      ...fromReport(finalReport(), job),
      skipped_artifacts: skipped.listed,
      skipped_artifacts_total: skipped.total,
    };
    writeFrame(FRAMES.result, Buffer.from(JSON.stringify(result)));
    linger();
  };
  // The end of the run, whichever comes first: the runner stated its exit code and every pipe closed
  // before its exit (see runner.js: the exit itself takes ~20 ms under gVisor); the program's pipes
  // closed after its exit; or caps.drain_after_exit_ms after its exit (a background process it left
  // behind may hold the pipes open forever and must not hold the result back).
  let openPipes = 3;
  const onPipeEnd = () => {
    openPipes -= 1;
    if (openPipes > 0 || child.exitCode !== null || child.signalCode !== null) return;
    const stated = finalReport().exit_code;
    if (!Number.isInteger(stated) || stated < 0 || stated > 255) return; // the exit decides
    runMs = Number(process.hrtime.bigint() - started) / 1e6;
    finish(stated, null);
  };
  for (const pipe of [child.stdout, child.stderr, reportPipe]) pipe.once('end', onPipeEnd);
  child.on('exit', (code, signal) => {
    runMs = Number(process.hrtime.bigint() - started) / 1e6;
    setTimeout(() => finish(code, signal), CAPS.drain_after_exit_ms);
  });
  child.on('close', (code, signal) => finish(code, signal));
}

main().catch((error) => {
  diagnostic(`failed: ${error && error.stack}`);
  process.exit(1);
});
