'use strict';
// The one-shot launcher's artifacts: the regular files the program left under the artifacts directory,
// checked for name, count and size, and sent to the host as artifact frames (launcher.js sends them once
// nothing of the program runs any more). Required by launcher.js only, never by the program process.
const fs = require('fs');

const { PROTOCOL, message, writeFrame } = require('./protocol.js');

const { frames: FRAMES, caps: CAPS } = PROTOCOL;
const NAME_FORBIDDEN = new RegExp(PROTOCOL.artifact_name_forbidden_characters);

/**
 * Relative paths (Buffers) of the regular files under artifacts/, sorted bytewise, and whether the
 * scan stopped at caps.artifact_scan_entries. Symlinks are left out: an input-file link is not
 * something the program produced.
 */
function listArtifacts(artifactsDir) {
  const found = [];
  let seen = 0;
  const pending = [Buffer.alloc(0)];
  while (pending.length > 0) {
    const prefix = pending.pop();
    let entries;
    try {
      const directory = Buffer.concat([Buffer.from(`${artifactsDir}/`), prefix]);
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

/** Sends the regular files under `artifactsDir` as frames, within the count and size caps. */
function sendArtifacts(nonce, limits, artifactsDir) {
  const { max_count: maxCount, max_bytes: maxBytes } = limits;
  const skipped = new Skipped();
  let sentCount = 0;
  let sentBytes = 0;
  const { names, scanStopped } = listArtifacts(artifactsDir);
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
    const file = Buffer.concat([Buffer.from(`${artifactsDir}/`), raw]);
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

module.exports = { sendArtifacts };
