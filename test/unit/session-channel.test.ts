import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DOCKER_STDERR } from '../../src/sandbox/protocol/frame-decoder.js';
import { SANDBOX_PROTOCOL } from '../../src/sandbox/protocol/sandbox-protocol.js';
import { SessionChannel } from '../../src/sandbox/protocol/session-channel.js';

/** One frame of Docker's multiplexed attach stream. */
function dockerFrame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function channel() {
  const stream = new PassThrough();
  const diagnostics: string[] = [];
  const broken: string[] = [];
  new SessionChannel({
    stream,
    maxFrameBytes: 1024 * 1024,
    onDiagnostic: (text) => diagnostics.push(text),
    onBroken: (reason) => broken.push(reason),
  });
  return { stream, diagnostics, broken };
}

describe('SessionChannel', () => {
  it('passes the launcher stderr on as diagnostics', () => {
    const { stream, diagnostics, broken } = channel();
    stream.write(dockerFrame(DOCKER_STDERR, Buffer.from('kernel crashed\n')));
    expect(diagnostics).toEqual(['kernel crashed\n']);
    expect(broken).toEqual([]);
  });

  // A session kernel holds the launcher's stderr (the Python kernel as fd 2's original, inherited on
  // purpose for crash reports): it could make the host take and log any amount of it, at full speed,
  // for the session's whole life. The one-shot path caps it at caps.diagnostic_bytes; so must this.
  it('gives up a sandbox that writes more than caps.diagnostic_bytes to its diagnostic stream', () => {
    const { stream, diagnostics, broken } = channel();
    const cap = SANDBOX_PROTOCOL.caps.diagnostic_bytes;
    const chunk = Buffer.alloc(4096, 'z');
    for (let written = 0; written <= cap + chunk.length; written += chunk.length) {
      stream.write(dockerFrame(DOCKER_STDERR, chunk));
    }
    const passedOn = diagnostics.reduce((total, text) => total + Buffer.byteLength(text), 0);
    expect(passedOn).toBeLessThanOrEqual(cap);
    expect(broken).toHaveLength(1);
    expect(broken[0]).toContain(`more than ${cap} bytes`);
  });
});
