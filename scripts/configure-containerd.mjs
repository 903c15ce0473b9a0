// Prepares the containerd side of SANDBOX_BACKEND=containerd: one executable per sandbox runtime name
// in RUNTIME_DIR (what the runc v2 shim runs as its BinaryName), and a containerd config for a
// containerd of our own. Prints "changed" when it wrote anything, "unchanged" otherwise.
//
// Why wrapper scripts: the runc v2 shim's options take a binary, not arguments, and runsc needs the
// flags in runsc-args.mjs. dockerd does the same for runtimes with runtimeArgs (it writes
// /var/lib/docker/runtimes/NAME), so both engines run runsc with identical flags.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNSC_ARGS, RUNSC_SECCOMP_ARG } from './runsc-args.mjs';

const runtimeDir = process.argv[2] ?? '/usr/local/lib/code-sandbox/containerd-runtimes';
const configPath = process.argv[3] ?? '/etc/code-sandbox/containerd.toml';
const runscPath = process.argv[4] ?? '/usr/bin/runsc';

const quoted = (args) => args.map((arg) => `'${arg}'`).join(' ');
const wrapper = (args) =>
  `#!/bin/sh\n# Written by scripts/configure-containerd.mjs.\nexec ${runscPath} ${quoted(args)} "$@"\n`;

const files = [
  { path: join(runtimeDir, 'runsc'), text: wrapper(RUNSC_ARGS), mode: 0o755 },
  { path: join(runtimeDir, 'runsc-seccomp'), text: wrapper([...RUNSC_ARGS, RUNSC_SECCOMP_ARG]), mode: 0o755 },
  {
    path: configPath,
    // The CRI plugin is Kubernetes' (kubelet talks to it); the service uses containerd's own API, so
    // it stays off here, as in the containerd dockerd runs. Everything else is containerd's default.
    text: [
      '# Written by scripts/configure-containerd.mjs: a containerd for SANDBOX_BACKEND=containerd.',
      'version = 2',
      'root = "/var/lib/containerd"',
      'state = "/run/containerd"',
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      '  address = "/run/containerd/containerd.sock"',
      '',
    ].join('\n'),
    mode: 0o644,
  },
];

let changed = false;
for (const { path, text, mode } of files) {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(`${path}.tmp`, text, { mode });
  chmodSync(`${path}.tmp`, mode);
  renameSync(`${path}.tmp`, path);
  changed = true;
}
console.log(changed ? 'changed' : 'unchanged');
