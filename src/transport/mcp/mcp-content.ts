import { isUtf8 } from 'node:buffer';
import type { CallToolResult, ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import type { Artifact } from '../../domain/artifact.js';
import { isTextMimeType, type Display } from '../../domain/display.js';
import type { ExecutionResult } from '../../domain/execution-result.js';
import type { CollectedExecution } from '../http/execute-collecting.js';
import { resultToJson } from '../http/result-json.js';

/**
 * An execution (one-shot or session cell) as an MCP tool result: stdout as text as it is, stderr and
 * the return value as labelled text, displays (plots) as image content, artifacts as embedded
 * resources with their MIME type, then one line saying how it ended. Anything but `ok` is
 * `isError: true`; the full result (field names as in /v1/execute) is the structured content.
 */
export function executionContent(collected: CollectedExecution): CallToolResult {
  const { result, stdout, stderr, artifacts, displays } = collected;
  const content: ContentBlock[] = [];
  const out = Buffer.concat(stdout).toString('utf8');
  if (out.length > 0) content.push(text(out));
  const err = Buffer.concat(stderr).toString('utf8');
  if (err.length > 0) content.push(text(`[stderr]\n${err}`));
  if (result.returnValue) {
    content.push(text(`[return value: ${result.returnValue.type}]\n${result.returnValue.json}`));
  }
  for (const display of displays) content.push(displayContent(display));
  for (const artifact of artifacts) content.push(artifactContent(result.executionId, artifact));
  content.push(text(outcomeLine(result)));
  return {
    content,
    structuredContent: resultToJson(result),
    ...(result.exitReason !== 'ok' && { isError: true }),
  };
}

/** A file's bytes as an embedded resource: text when its type is textual and it is UTF-8, else base64. */
export function fileResource(uri: string, mimeType: string, content: Buffer): ContentBlock {
  const resource =
    isTextMimeType(mimeType) && isUtf8(content)
      ? { uri, mimeType, text: content.toString('utf8') }
      : { uri, mimeType, blob: content.toString('base64') };
  return { type: 'resource', resource };
}

/** The URI a session file is named by in tool results. */
export function sessionFileUri(sessionId: string, path: string): string {
  return `sandbox://sessions/${sessionId}/files/${encodePath(path)}`;
}

export function text(value: string): ContentBlock {
  return { type: 'text', text: value };
}

/** "ok", or the exit reason with what explains it, so a model can tell a bug from a limit. */
function outcomeLine(result: ExecutionResult): string {
  const parts = [`exit_reason: ${result.exitReason}`, `exit_code: ${result.exitCode}`];
  parts.push(`duration_ms: ${result.durationMs}`);
  if (result.detail) parts.push(`detail: ${result.detail}`);
  if (result.stdoutTruncated || result.stderrTruncated) {
    parts.push(`output truncated at ${result.limits.outputBytes} bytes`);
  }
  if (result.skippedArtifactsTotal > 0) parts.push(`${result.skippedArtifactsTotal} artifacts not returned`);
  if (result.cell?.interpreterRestarted) parts.push('the interpreter was restarted: its variables are gone');
  if (result.cell?.resumeMs !== undefined)
    parts.push(`the paused session was resumed first (${result.cell.resumeMs} ms); its state was kept`);
  return parts.join('; ');
}

/**
 * A Jupyter MIME bundle: its image as image content (a raster type before SVG), else its plain text,
 * else its first textual representation, else the bytes as a resource.
 */
function displayContent(display: Display): ContentBlock {
  const types = Object.keys(display.data);
  const image =
    types.find((type) => type.startsWith('image/') && !type.includes('svg')) ??
    types.find((type) => type.startsWith('image/'));
  if (image) return { type: 'image', mimeType: image, data: display.data[image]!.toString('base64') };
  const textual = types.includes('text/plain') ? 'text/plain' : types.find(isTextMimeType);
  if (textual) return text(display.data[textual]!.toString('utf8'));
  const [first = 'application/octet-stream'] = types;
  return fileResource('sandbox://display', first, display.data[first] ?? Buffer.alloc(0));
}

function artifactContent(executionId: string, artifact: Artifact): ContentBlock {
  const uri = `sandbox://executions/${executionId}/artifacts/${encodePath(artifact.name)}`;
  return fileResource(uri, artifact.mimeType, artifact.content);
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
