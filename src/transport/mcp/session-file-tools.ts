import { z } from 'zod';
import { mimeTypeFor } from '../../domain/artifact.js';
import { base64String } from '../http/base64-string.js';
import { fileResource, sessionFileUri, text } from './mcp-content.js';
import { defineTool, type McpTool } from './mcp-tool.js';
import { bytes, type SandboxFacts } from './sandbox-description.js';
import { sessionIdSchema, type SessionDoor } from './session-tools.js';

const pathSchema = z
  .string()
  .describe(
    'A path relative to the session\'s working directory, e.g. "data/sales.csv" (no "..", no leading "/").',
  );

/** upload_file, download_file, list_files: the files of a session's working directory. */
export function sessionFileTools(door: SessionDoor, facts: SandboxFacts): McpTool[] {
  const uploadFile = defineTool({
    name: 'upload_file',
    title: 'Upload a file into a session',
    description:
      "Write a file into a session's working directory (replacing one at that path), for its code to " +
      `read. Give "content" for text or "content_b64" for bytes; at most ${bytes(facts.maxInputBytes)}.`,
    inputSchema: z
      .object({
        session_id: sessionIdSchema,
        path: pathSchema,
        content: z.string().optional().describe('The file as UTF-8 text.'),
        content_b64: base64String.optional().describe('The file as base64, for binary files.'),
      })
      .strict()
      .refine((args) => (args.content === undefined) !== (args.content_b64 === undefined), {
        message: 'exactly one of "content" (UTF-8 text) or "content_b64" must be given',
      }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    call: async (args, call) => {
      const content =
        args.content_b64 !== undefined
          ? Buffer.from(args.content_b64, 'base64')
          : Buffer.from(args.content ?? '', 'utf8');
      const size = await door(call).upload(args.session_id, args.path, content, call.signal);
      return {
        content: [text(`wrote ${size} bytes to ${args.path}`)],
        structuredContent: { path: args.path, size },
      };
    },
  });

  const downloadFile = defineTool({
    name: 'download_file',
    title: 'Download a file from a session',
    description:
      "Read a file from a session's working directory (e.g. one its code wrote). Returned as an " +
      `embedded resource with its MIME type (text, or base64 for binary); at most ${bytes(facts.maxArtifactBytes)}.`,
    inputSchema: z.object({ session_id: sessionIdSchema, path: pathSchema }).strict(),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    call: async (args, call) => {
      const content = await door(call).download(args.session_id, args.path, call.signal);
      return {
        content: [fileResource(sessionFileUri(args.session_id, args.path), mimeTypeFor(args.path), content)],
      };
    },
  });

  const listFiles = defineTool({
    name: 'list_files',
    title: 'List the files of a session',
    description: "List the files in a session's working directory (path and size in bytes).",
    inputSchema: z.object({ session_id: sessionIdSchema }).strict(),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    call: async (args, call) => {
      const listing = await door(call).list(args.session_id, call.signal);
      const lines = listing.files.map((file) => `${file.path}\t${file.size}`);
      if (listing.truncated) lines.push(`(only the first ${listing.files.length} files are listed)`);
      return {
        content: [text(lines.length > 0 ? lines.join('\n') : '(no files)')],
        structuredContent: { files: listing.files, truncated: listing.truncated },
      };
    },
  });

  return [uploadFile, downloadFile, listFiles];
}
