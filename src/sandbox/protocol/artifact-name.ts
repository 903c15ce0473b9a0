import type { SandboxProtocol } from './sandbox-protocol.js';

/**
 * Why `name` (from a sandbox) is not a safe artifact name, or undefined when it is. A client may save
 * artifacts under their names, so a name must be relative, '/'-separated, without empty, "." or ".."
 * segments, well-formed UTF-16 (so valid UTF-8 on the wire), and free of the characters protocol.json
 * forbids (control characters among them), within its length and depth caps. The launchers apply the
 * same rule before sending; this is the host's check of what actually arrived.
 */
export function artifactNameProblem(name: string, protocol: SandboxProtocol): string | undefined {
  const { artifact_name_bytes: maxBytes, artifact_name_depth: maxDepth } = protocol.caps;
  if (name.length === 0) return 'is empty';
  if (!name.isWellFormed()) return 'is not valid UTF-8';
  if (Buffer.byteLength(name) > maxBytes) return `is longer than ${maxBytes} bytes`;
  if (protocol.artifactNameForbidden.test(name)) return 'contains a control character, "\\" or ":"';
  if (name.startsWith('/')) return 'is absolute';
  const segments = name.split('/');
  if (segments.length > maxDepth) return `is more than ${maxDepth} levels deep`;
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return 'has an empty, "." or ".." segment';
  }
  return undefined;
}

/** A name from a sandbox made printable for a message or a skipped-artifact entry. */
export function printableName(name: string, maxBytes: number): string {
  // eslint-disable-next-line no-control-regex
  const printable = name.toWellFormed().replace(/[\u0000-\u001f\u007f]/g, '\ufffd');
  const bytes = Buffer.from(printable);
  if (bytes.length <= maxBytes) return printable;
  // A cut inside a multi-byte character decodes as U+FFFD: drop that half character.
  return bytes
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\ufffd$/, '');
}
