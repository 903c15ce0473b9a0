'use strict';
// The program process for Node.js, started by the launcher before any job exists. It requires the
// preload modules, says it is ready on the report pipe (fd 3) and waits for "start" on the control
// pipe (fd 4). Then mode "script" runs the code as the main module; "main" loads it and calls
// main(arguments) (sync or async); "auto" calls main when the code defines one. The return value goes
// to the launcher on fd 3, never through stdout, so nothing the program prints can be mistaken for
// it. At exit it also reports the process's peak memory there.
const fs = require('fs');
const net = require('net');
const Module = require('module');
const path = require('path');

const { PROTOCOL, CONTROL_FD, REPORT_FD, message, writeRecord } = require('./protocol.js');

const PATHS = PROTOCOL.paths;
const JOB_DIR = process.env.SANDBOX_JOB_DIR;
delete process.env.SANDBOX_JOB_DIR;
const report = {};

function preload(list) {
  const errors = [];
  for (const name of list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)) {
    try {
      require(name);
    } catch (error) {
      errors.push(`${name}: ${error.message}`);
    }
  }
  return errors;
}

function fail(text) {
  process.stderr.write(`${text}\n`);
  report.function_result = { error: text };
  process.exitCode = 1;
}

function typeName(value) {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

class NonFiniteNumber extends Error {}

// JSON.stringify would write NaN and Infinity as null: a silent change of meaning. BigInts it refuses.
function refuseNonFinite(_key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new NonFiniteNumber();
  return value;
}

function encode(value) {
  if (value === undefined) return 'null';
  const encoded = JSON.stringify(value, refuseNonFinite);
  if (encoded === undefined) throw new TypeError(`a ${typeof value} has no JSON form`);
  return encoded;
}

// Appending one statement keeps the program's own line numbers and lets us find a top-level
// `function main` or `const main`, which CommonJS does not export by itself.
const FIND_MAIN = '\n;module.exports.__sandboxMain = typeof main === "function" ? main : undefined;\n';

function loadProgram(entryPath) {
  const source = fs.readFileSync(entryPath, 'utf8');
  const program = new Module(entryPath, null);
  program.filename = entryPath;
  program.paths = Module._nodeModulePaths(path.dirname(entryPath));
  program._compile(source + FIND_MAIN, entryPath);
  const exported = program.exports;
  if (typeof exported === 'function') return exported;
  return (exported && typeof exported.main === 'function' && exported.main) || exported.__sandboxMain;
}

async function runFunction(entryPath, mode) {
  const argumentsJson = fs.readFileSync(path.join(JOB_DIR, PATHS.arguments), 'utf8');
  const main = loadProgram(entryPath);
  if (typeof main !== 'function') {
    if (mode === 'auto') {
      report.mode = 'script';
      return; // it ran as a module; there is no function to call
    }
    fail(message('no_main', { signature: '`function main(args)`' }));
    return;
  }
  report.mode = 'main';
  let value;
  try {
    value = await main(JSON.parse(argumentsJson));
  } catch (error) {
    process.stderr.write(`${error && error.stack ? error.stack : String(error)}\n`);
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    report.function_result = {
      error: message('main_raised', { error: text.slice(0, PROTOCOL.caps.error_message_bytes) }),
    };
    process.exitCode = 1;
    return;
  }
  let encoded;
  try {
    encoded = encode(value);
  } catch (error) {
    if (error instanceof NonFiniteNumber) fail(message('non_finite'));
    else fail(message('not_json', { type: typeName(value), error: error.message }));
    return;
  }
  report.function_result = { present: true, value_json: encoded, type: typeName(value) };
  // main() is done: background timers the program left behind must not keep the run alive.
  setImmediate(() => process.exit());
}

/** Which open file `fd` is (device and inode), or undefined when it is closed. */
function identity(fd) {
  try {
    const { dev, ino } = fs.fstatSync(fd);
    return `${dev}:${ino}`;
  } catch {
    return undefined;
  }
}

function runJob() {
  const job = JSON.parse(fs.readFileSync(path.join(JOB_DIR, PATHS.manifest), 'utf8'));
  const entryPath = path.join(JOB_DIR, job.entry);
  report.mode = job.mode;
  // The pipes to the launcher as they are before the program runs: it may close them and reuse the
  // numbers for files of its own, which must then get neither the report nor a close.
  const launcherPipes = new Map([1, 2, REPORT_FD].map((fd) => [fd, identity(fd)]));
  const stillOurs = (fd) => identity(fd) === launcherPipes.get(fd);
  const onExit = (code) => {
    // Peak RSS of this, the program's process: measured here in both languages alike.
    report.max_rss_kb = Math.round(process.resourceUsage().maxRSS);
    // As the last exit listener, nothing of the program can write any more: state the exit code and
    // close every pipe to the launcher, which then reports the end at once instead of after this
    // process's exit (~20 ms of teardown under gVisor). A listener the program added later, or a
    // process it left holding copies of the pipes, means the launcher waits for the exit as before.
    const last = process.listeners('exit').at(-1) === onExit;
    if (last) report.exit_code = code;
    if (!stillOurs(REPORT_FD)) return;
    writeRecord(report); // false: the launcher is gone; nothing to tell
    if (!last) return;
    for (const fd of [1, 2, REPORT_FD]) {
      if (!stillOurs(fd)) continue;
      try {
        fs.closeSync(fd);
      } catch {
        // closed meanwhile
      }
    }
  };
  process.on('exit', onExit);
  if (job.mode === 'script') {
    process.argv = [process.argv[0], entryPath];
    Module.runMain();
  } else {
    runFunction(entryPath, job.mode).catch((error) => fail(`runner failed: ${error && error.message}`));
  }
}

require('./egress-agent.js').install(process.env); // before anything captures the global agents
const preloadErrors = preload(process.argv[2] || '');
writeRecord({ ready: true, preload_errors: preloadErrors });
const control = new net.Socket({ fd: CONTROL_FD, readable: true, writable: false });
let received = '';
control.on('data', (chunk) => {
  received += chunk.toString('utf8');
  if (!received.includes('\n')) return;
  control.destroy();
  runJob();
});
control.on('end', () => {
  if (!received.includes('\n')) process.exit(0); // the launcher is gone: no job will come
});
