'use strict';
// Package installer: PID 1 of a Node.js install sandbox (docs/packages.md; python/package_install.py
// says why an install gets a sandbox of its own). Relays 127.0.0.1:port to the host's package mirror
// (the egress relay, reused), runs npm as the sandbox user into stage_dir (a tmpfs as large as the
// size budget), then copies stage_dir/node_modules to out_dir, which the program's sandbox sees
// read-only as job_dir/node_modules (require() from the program finds it). Install scripts run (as
// npm runs them), under every sandbox limit, with HTTP(S)_PROXY pointing at the mirror, which refuses
// anything but the index. Exit status: npm's, or 1 when the copy fails.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const relay = require('./egress-relay.js');

const PROTOCOL = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'protocol.json'), 'utf8'));
const PACKAGES = PROTOCOL.packages;

async function main() {
  const socketPath = path.join(PACKAGES.install_dir, PACKAGES.socket);
  const proxy = await relay.start(socketPath, {
    proxy_port: PACKAGES.port,
    no_proxy: PROTOCOL.egress.no_proxy,
  });
  if (Object.keys(proxy).length === 0) {
    process.stderr.write("package install: the package mirror's socket is missing\n");
    return 1;
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(PACKAGES.install_dir, PACKAGES.manifest), 'utf8'));
  const registry = `http://127.0.0.1:${PACKAGES.port}/`;
  const env = {
    HOME: '/tmp',
    LANG: 'C.UTF-8',
    PATH: '/usr/local/bin:/usr/bin:/bin',
    // No configuration files but these flags: files npm would read do not exist (it refuses to load one
    // file twice, so /dev/null cannot serve for both).
    npm_config_userconfig: '/tmp/.npmrc-none',
    npm_config_globalconfig: '/tmp/.npmrc-global-none',
    npm_config_update_notifier: 'false',
    ...proxy,
  };
  const args = [
    'install',
    '--prefix',
    PACKAGES.stage_dir,
    '--registry',
    registry,
    '--cache',
    '/tmp/.npm',
    '--no-audit',
    '--no-fund',
    '--no-package-lock',
    '--no-save',
    '--loglevel',
    'warn',
    ...manifest.requirements,
  ];
  const status = await new Promise((resolve) => {
    const child = spawn('npm', args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (error) => {
      process.stderr.write(`package install: cannot start npm: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
  });
  if (status !== 0) return status;
  try {
    fs.cpSync(path.join(PACKAGES.stage_dir, 'node_modules'), PACKAGES.out_dir, {
      recursive: true,
      verbatimSymlinks: true,
    });
  } catch (error) {
    process.stderr.write(`package install: copying the installed packages failed: ${error.message}\n`);
    return 1;
  }
  return 0;
}

main().then((status) => process.exit(status));
