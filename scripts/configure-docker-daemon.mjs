// Registers the gVisor runtime in dockerd's daemon.json, keeping every other setting as it is.
// Prints "changed" when it wrote the file (dockerd must then reload), "unchanged" otherwise.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const path = process.argv[2] ?? '/etc/docker/daemon.json';
const runscPath = process.argv[3] ?? '/usr/bin/runsc';
// runsc's flags, one per line with why: keep it a list (other features add theirs).
const runtimeArgs = [
  // Without it a runsc start with NetworkMode "none" fails ("cannot run with network enabled in root
  // network namespace") and leaves stray runsc processes behind. Sandboxes keep only loopback.
  '--network=none',
  // Lets a program connect() to a host unix socket that is bind-mounted into its sandbox (it cannot
  // create or bind one). The service mounts exactly one: its per-sandbox egress proxy socket, the only
  // way out of a NIC-less sandbox (src/egress/). Nothing else mounted into a sandbox is a socket.
  '--host-uds=open',
];
const wanted = { path: runscPath, runtimeArgs };

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
const current = config.runtimes?.runsc;
if (JSON.stringify(current) === JSON.stringify(wanted)) {
  console.log('unchanged');
} else {
  config.runtimes = { ...(config.runtimes ?? {}), runsc: wanted };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(config, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  console.log('changed');
}
