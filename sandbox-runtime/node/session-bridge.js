'use strict';
// The host's way back into a Node.js session restored from a checkpoint: started by the host with
// `docker exec` as uid 0, it relays its stdin to the session launcher's bridge socket and the socket to
// its stdout, byte for byte (protocol.json session.bridge_socket says why the restored stdin and stdout
// are not used). The host then speaks to the launcher exactly as over the container's own stdio.
const fs = require('fs');
const net = require('net');
const path = require('path');
const { PROTOCOL } = require('./protocol.js');

const SOCKET = PROTOCOL.session.bridge_socket;

function fail(message) {
  process.stderr.write(`session bridge: ${message}\n`);
  process.exit(1);
}

// The launcher made the directory as uid 0 with mode 0700 before any cell ran. Anything else there was
// made by someone else (the kernel user cannot make a uid-0 directory), so it is not the launcher's.
let directory;
try {
  directory = fs.lstatSync(path.dirname(SOCKET));
} catch (error) {
  fail(`no bridge directory: ${error.message}`);
}
if (!directory.isDirectory() || directory.uid !== 0 || (directory.mode & 0o077) !== 0) {
  fail(
    `${path.dirname(SOCKET)} is not the launcher's (uid ${directory.uid}, mode ${directory.mode.toString(8)})`,
  );
}

const socket = net.connect(SOCKET);
socket.on('error', (error) => fail(error.message));
socket.on('close', () => process.exit(0));
process.stdin.pipe(socket);
socket.pipe(process.stdout);
