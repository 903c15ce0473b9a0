'use strict';
// The interpreter of a Node.js session, started by session-launcher.js. Every cell runs as a script
// in one persistent vm context, so top-level `let`/`const`, functions and variables of earlier cells
// are still there (as between the <script> tags of one page). The value of the cell's last expression
// (awaited when it is a promise) is reported on fd 3, never through stdout, so nothing the cell prints
// can pose as it. SIGINT interrupts a running cell, synchronous or awaiting.
const net = require('net');
const path = require('path');
const util = require('util');
const vm = require('vm');
const { createRequire } = require('module');

const { PROTOCOL, CONTROL_FD, writeRecord } = require('./protocol.js');

const WORK_DIR = PROTOCOL.paths.work_dir;

function report(record) {
  if (!writeRecord(record)) process.exit(1); // the launcher is gone
}

// Before any cell can capture Node's global agents: http/https requests of the cells (and of the
// libraries they load, e.g. axios for http://) go through the egress proxy named by HTTP(S)_PROXY.
require('./egress-agent.js').install(process.env);

const context = vm.createContext({
  console,
  process,
  Buffer,
  URL,
  URLSearchParams,
  TextEncoder,
  TextDecoder,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  setImmediate,
  clearImmediate,
  queueMicrotask,
  structuredClone,
  require: createRequire(path.join(WORK_DIR, 'cell.js')),
});
context.globalThis = context;

let executionCount = 0;
let interruptCurrent = null;

process.on('SIGINT', () => {
  // Outside vm's own SIGINT watch (breakOnSigint): the cell is awaiting a promise.
  if (interruptCurrent) interruptCurrent();
});

function describeError(error) {
  if (error && typeof error === 'object' && 'name' in error && 'message' in error) {
    return `${error.name}: ${error.message}`;
  }
  return `Uncaught ${util.inspect(error)}`;
}

/** The error as Node prints it, without this kernel's own frames below the cell's. */
function cellStack(error) {
  if (!error || typeof error.stack !== 'string') return `Uncaught ${util.inspect(error)}`;
  const lines = error.stack.split('\n');
  const internal = lines.findIndex((line) => /\(node:vm:|session-kernel\.js/.test(line));
  return (internal > 0 ? lines.slice(0, internal) : lines).join('\n');
}

async function runCell(code) {
  executionCount += 1;
  const filename = `cell-${executionCount}.js`;
  let value;
  try {
    const script = new vm.Script(code, { filename });
    value = script.runInContext(context, { breakOnSigint: true, displayErrors: false });
    if (value && typeof value.then === 'function') {
      value = await new Promise((resolve, reject) => {
        interruptCurrent = () => reject(new Error('Script execution interrupted.'));
        value.then(resolve, reject);
      });
    }
  } catch (error) {
    // vm's own message for a SIGINT during synchronous code, or ours for one while awaiting.
    // (Errors from the cell come from the context's own Error: duck-typed, not instanceof.)
    const interrupted = /^Script execution (was )?interrupted/.test(String(error && error.message));
    process.stderr.write(`${interrupted ? 'Interrupted' : cellStack(error)}\n`);
    return { status: interrupted ? 'interrupted' : 'error', detail: describeError(error) };
  } finally {
    interruptCurrent = null;
  }
  const shown = value === undefined ? undefined : util.inspect(value, { depth: 4, colors: false });
  return { status: 'ok', detail: '', value: shown };
}

let pending = '';
// A socket, not fs.createReadStream: a thread-pool read blocked on this fd would keep a cell's
// process.exit() from ever finishing.
const control = new net.Socket({ fd: CONTROL_FD, readable: true, writable: false });
let queue = Promise.resolve();
control.on('data', (chunk) => {
  pending += chunk.toString('utf8');
  let newline;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    queue = queue.then(async () => {
      const { code } = JSON.parse(line);
      const outcome = await runCell(code);
      report({ ...outcome, execution_count: executionCount });
    });
  }
});
control.on('end', () => process.exit(0));
report({ ready: true });
