'use strict';
// A session's file calls: upload (inbox → /work), download and list (/work), never following a link.
// Node has no openat: paths are walked with lstat, any link refused, and what is opened must be on
// /work's own filesystem (see openInWork). Each call ends with a reply frame carrying its nonce.
// Required by session-launcher.js only, never by the interpreter (session-kernel.js).
const fs = require('fs');
const path = require('path');

const { PROTOCOL, writeReply: reply } = require('./protocol.js');

const INBOX_DIR = path.join(PROTOCOL.paths.job_dir, PROTOCOL.session.inbox_dir);
const WORK_DIR = PROTOCOL.paths.work_dir;
const { O_NOFOLLOW, O_RDONLY } = fs.constants;

/** An error the host answers with INVALID_ARGUMENT and this message (the reply's error is "link"). */
function linkRefused(name, what = 'is a symbolic link') {
  return Object.assign(new Error(`'${name}' ${what}; session files never follow links`), {
    code: 'ELINKREFUSED',
  });
}

function pathParts(relative) {
  // The host validated the path (relative, no "..", no NUL); checked again here all the same.
  const parts = relative.split('/').filter((part) => part !== '' && part !== '.');
  if (relative.startsWith('/') || relative.includes('\0') || parts.includes('..') || parts.length === 0) {
    throw Object.assign(new Error('invalid path'), { code: 'EPERM' });
  }
  return parts;
}

/**
 * Walks WORK_DIR/parts[0..n-2] refusing any link (lstat; `create`: makes the missing directories) and
 * returns the path of the last component, refused if it is a link. Node has no openat, so between this
 * check and the open the code could swap a checked directory for a link; openInWork() closes that gap
 * by refusing whatever it opened unless it lies on /work's own filesystem, where everything is the
 * code's anyway (and the launcher acts with the kernel user's rights, so a swap gains nothing else).
 */
function checkedPath(parts, create) {
  let current = WORK_DIR;
  for (const [index, part] of parts.entries()) {
    current = path.join(current, part);
    let stat;
    try {
      stat = fs.lstatSync(current);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
      if (index === parts.length - 1) break; // still to be made (upload) or missing (open says so)
      if (!create) throw error;
      fs.mkdirSync(current);
      stat = fs.lstatSync(current);
    }
    if (stat.isSymbolicLink()) throw linkRefused(part);
  }
  return current;
}

/** Opens WORK_DIR/parts with O_NOFOLLOW, after checkedPath(); refuses what is not on /work's filesystem. */
function openInWork(parts, flags, mode) {
  const target = checkedPath(parts, false);
  let fd;
  try {
    fd = fs.openSync(target, flags | O_NOFOLLOW, mode);
  } catch (error) {
    if (error.code === 'ELOOP') throw linkRefused(parts[parts.length - 1]);
    throw error;
  }
  if (fs.fstatSync(fd).dev !== fs.statSync(WORK_DIR).dev) {
    fs.closeSync(fd);
    throw linkRefused(parts.join('/'), 'led out of /work (a directory on the way became a link)');
  }
  return fd;
}

function upload(command) {
  const parts = pathParts(command.path);
  const directory = parts.slice(0, -1);
  const name = parts[parts.length - 1];
  const temporary = [...directory, `${name}.upload-${process.pid}`];
  checkedPath([...directory, name], true);
  try {
    fs.unlinkSync(path.join(WORK_DIR, ...temporary));
  } catch {
    // none left from an earlier upload
  }
  const fd = openInWork(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o666);
  try {
    fs.writeFileSync(fd, fs.readFileSync(path.join(INBOX_DIR, path.basename(command.inbox))));
  } finally {
    fs.closeSync(fd);
  }
  // rename() never follows a link: whatever the code put at the target meanwhile is replaced.
  try {
    fs.renameSync(path.join(WORK_DIR, ...temporary), checkedPath(parts, false));
  } catch (error) {
    fs.rmSync(path.join(WORK_DIR, ...temporary), { force: true });
    throw error;
  }
  reply(command.nonce, { ok: true, size: fs.lstatSync(path.join(WORK_DIR, ...parts)).size });
}

function download(command) {
  // Non-blocking open: a FIFO the code left there must not hang the session.
  const fd = openInWork(pathParts(command.path), O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    if (stat.size > command.max_bytes) {
      reply(command.nonce, {
        ok: false,
        error: 'too_large',
        message: `larger than ${command.max_bytes} bytes`,
      });
      return;
    }
    const content = Buffer.alloc(stat.size);
    let offset = 0;
    while (offset < content.length) {
      const read = fs.readSync(fd, content, offset, content.length - offset, offset);
      if (read === 0) break;
      offset += read;
    }
    reply(command.nonce, { ok: true, size: offset }, content.subarray(0, offset));
  } finally {
    fs.closeSync(fd);
  }
}

function list(command) {
  const files = [];
  const workDevice = fs.statSync(WORK_DIR).dev;
  const walk = (relative) => {
    const directory = path.join(WORK_DIR, relative);
    // A directory swapped for a link since its parent was read: not listed (a link to a directory on
    // /work's own filesystem shows only what the code could list itself).
    // Not O_DIRECTORY: this gVisor follows a link despite O_NOFOLLOW when O_DIRECTORY is set (measured).
    const opened = fs.openSync(directory, O_RDONLY | O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const stat = fs.fstatSync(opened);
      if (!stat.isDirectory() || stat.dev !== workDevice) return false;
    } finally {
      fs.closeSync(opened);
    }
    // withFileTypes: the types of the entries themselves (a link is neither a file nor a directory).
    const entries = fs.readdirSync(directory, { withFileTypes: true });
    const subdirectories = [];
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) subdirectories.push(child);
      else if (entry.isFile()) {
        let size;
        try {
          size = fs.lstatSync(path.join(WORK_DIR, child)).size;
        } catch {
          continue; // removed since it was listed
        }
        files.push({ path: child, size });
        if (files.length >= command.max_entries) return true;
      }
    }
    for (const child of subdirectories) {
      try {
        if (walk(child)) return true;
      } catch {
        // removed or swapped for a link since it was listed
      }
    }
    return false;
  };
  const truncated = walk('');
  reply(command.nonce, { ok: true, files, truncated });
}

module.exports = { upload, download, list };
