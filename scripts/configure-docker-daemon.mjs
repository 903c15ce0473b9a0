// Registers the gVisor runtimes in dockerd's daemon.json and turns on "experimental" (which Docker
// 20.10 needs for checkpoint/restore, i.e. for pausing sessions), keeping every other setting as it is.
// Prints "unchanged"; "changed" when only reloadable settings changed (runtimes: a SIGHUP applies
// them); "changed-restart" when "experimental" changed, which dockerd reads only when it starts (it is
// not among the settings daemon/reload.go applies on SIGHUP), so a running dockerd must be restarted.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RUNSC_ARGS, RUNSC_SECCOMP_ARG } from './runsc-args.mjs';

const path = process.argv[2] ?? '/etc/docker/daemon.json';
const runscPath = process.argv[3] ?? '/usr/bin/runsc';

const wantedRuntimes = {
  runsc: { path: runscPath, runtimeArgs: [...RUNSC_ARGS] },
  // SANDBOX_ENABLE_SECCOMP=true: the same runsc, but enforcing the container's OCI seccomp profile
  // inside the sandbox, as a second filter behind gVisor's own. A runtime of its own rather than a flag
  // on "runsc", because with it runsc also enforces Docker's default profile on every other container,
  // and that one's clone() argument filter makes thread creation fail under gVisor (measured: node
  // aborts, numpy's OpenBLAS cannot start threads). The service sends its own profile instead.
  'runsc-seccomp': { path: runscPath, runtimeArgs: [...RUNSC_ARGS, RUNSC_SECCOMP_ARG] },
};

let config = {};
if (existsSync(path)) {
  const text = readFileSync(path, 'utf8').trim();
  try {
    config = text ? JSON.parse(text) : {};
  } catch (error) {
    console.error(
      `${path} is not valid JSON (${error.message}); fix it by hand, setup will not overwrite it`,
    );
    process.exit(1);
  }
}
const runtimesUnchanged = Object.entries(wantedRuntimes).every(
  ([name, wanted]) => JSON.stringify(config.runtimes?.[name]) === JSON.stringify(wanted),
);
const experimentalUnchanged = config.experimental === true;
if (runtimesUnchanged && experimentalUnchanged) {
  console.log('unchanged');
} else {
  config.runtimes = { ...(config.runtimes ?? {}), ...wantedRuntimes };
  config.experimental = true;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(config, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  console.log(experimentalUnchanged ? 'changed' : 'changed-restart');
}
