'use strict';
// In-sandbox launcher for Node.js: PID 1 of every Node sandbox container. Same protocol and phases as
// sandbox-runtime/python/launcher.py (read that file's header): boot the program process (runner.js)
// and report READY; on the start line run the job, relay its output as frames, send artifacts, end
// with a nonce-carrying result frame. Frame types, paths, caps, record fields and messages come from
// ../protocol.json, shared with the host and the Python launcher. The program process is in
// launcher-program.js, the artifacts in launcher-artifacts.js.
const fs = require('fs');
const path = require('path');

const { PROTOCOL, REPORT_FD, CONTROL_FD, message, writeFrame, startEgressRelay } = require('./protocol.js');
const { sendArtifacts } = require('./launcher-artifacts.js');
const {
  startRunner,
  ReportCollector,
  firstLine,
  readReport,
  exitStatus,
  stopEverything,
} = require('./launcher-program.js');

const { frames: FRAMES, paths: PATHS, caps: CAPS } = PROTOCOL;
// Overridable only for the plain-process conformance tests: in a container, the launcher's environment
// is the container spec's, which never sets them.
const JOB_DIR = process.env.CODE_SANDBOX_JOB_DIR || PATHS.job_dir;
const WORK_DIR = process.env.CODE_SANDBOX_WORK_DIR || PATHS.work_dir;
const ARTIFACTS_DIR = path.join(WORK_DIR, PATHS.artifacts_dir);

function diagnostic(text) {
  process.stderr.write(`launcher: ${text}\n`);
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

/**
 * Idles until the host lets go of the sandbox (stdin closes) or kills it: an immediate exit would stop
 * the container now, which costs the host CPU right when the next execution may be starting; the host
 * removes used sandboxes a little later instead.
 */
function linger() {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/** Waits for the runner's ready line (exits when it dies first); the report keeps being collected. */
async function waitUntilReady(child) {
  const reportPipe = child.stdio[REPORT_FD];
  const report = new ReportCollector(CAPS.boot_report_bytes);
  const readyLine = await firstLine(reportPipe, report.add);
  if (readyLine === null) {
    diagnostic(message('program_died_starting'));
    process.exit(1);
  }
  for (const problem of JSON.parse(readyLine).preload_errors || []) diagnostic(`preload failed: ${problem}`);
  reportPipe.on('data', report.add);
  return report;
}

async function main() {
  const preload = process.argv[2] || '';
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const proxyEnvironment = await startEgressRelay(JOB_DIR);
  const child = startRunner(preload, proxyEnvironment, JOB_DIR, WORK_DIR);
  const report = await waitUntilReady(child);
  writeFrame(FRAMES.ready, Buffer.alloc(0));

  // The nonce is read only now, after the program process exists: it is never in its memory.
  const goLine = await firstLine(process.stdin);
  if (goLine === null) process.exit(0); // the host went away before a job came
  process.stdin.pause();
  const { nonce } = JSON.parse(goLine);
  const job = JSON.parse(fs.readFileSync(path.join(JOB_DIR, PATHS.manifest), 'utf8'));
  linkInputFiles(job.files);
  report.limit = job.max_result_bytes + CAPS.report_slack_bytes;
  runJob(child, report, nonce, job);
}

/** Starts the job in the waiting runner, relays its output, and ends with the artifacts and the result. */
function runJob(child, report, nonce, job) {
  const started = process.hrtime.bigint();
  child.stdout.on('data', (chunk) => writeFrame(FRAMES.stdout, chunk));
  child.stderr.on('data', (chunk) => writeFrame(FRAMES.stderr, chunk));
  child.stdio[CONTROL_FD].end('start\n');
  child.stdin.on('error', () => undefined); // the program may stop reading its stdin early
  // Read at once rather than streamed: an fs stream would start libuv's thread pool (4 threads, each
  // a few ms under gVisor's ptrace platform) on the run's path; the host caps stdin's size.
  child.stdin.end(fs.readFileSync(path.join(JOB_DIR, PATHS.stdin)));

  let finished = false;
  let runMs = 0;
  // Read once, when nothing more can arrive: every pipe closed, or the run is being finished.
  let finalRecord;
  const finalReport = () => (finalRecord ??= readReport(report.chunks, report.bytes, job.max_result_bytes));
  const finish = (code, signal) => {
    if (finished) return;
    finished = true;
    sendResult(child, nonce, job, { ...exitStatus(code, signal), runMs, report: finalReport() });
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
  for (const pipe of [child.stdout, child.stderr, child.stdio[REPORT_FD]]) pipe.once('end', onPipeEnd);
  child.on('exit', (code, signal) => {
    runMs = Number(process.hrtime.bigint() - started) / 1e6;
    setTimeout(() => finish(code, signal), CAPS.drain_after_exit_ms);
  });
  child.on('close', (code, signal) => finish(code, signal));
}

/** Stops everything of the program, sends its artifacts, then the result frame; then lingers. */
function sendResult(child, nonce, job, { exitCode, signal: signalNumber, runMs, report }) {
  // Nothing of the program may run while its artifacts are read (a file swapped for a FIFO or a
  // link mid-scan could block or redirect the launcher), nor after the result.
  stopEverything(child);
  const skipped = sendArtifacts(nonce, job.artifacts, ARTIFACTS_DIR);
  const result = {
    nonce,
    exit_code: exitCode,
    signal: signalNumber,
    run_ms: Math.round(runMs * 1000) / 1000,
    ...fromReport(report, job),
    skipped_artifacts: skipped.listed,
    skipped_artifacts_total: skipped.total,
  };
  writeFrame(FRAMES.result, Buffer.from(JSON.stringify(result)));
  linger();
}

main().catch((error) => {
  diagnostic(`failed: ${error && error.stack}`);
  process.exit(1);
});
