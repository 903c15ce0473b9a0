import { z } from 'zod';
import { DISPLAY_KINDS, isTextMimeType, type Display } from '../domain/display.js';

/**
 * Frames a session launcher (sandbox-runtime/python/session_launcher.py) writes beyond the one-shot
 * launcher's stdout (1), stderr (2), result (3) and ready (5); the launchers write the same numbers.
 * The payload of a display is JSON {kind, data}; of a reply, a JSON header line then file content.
 */
export const SESSION_DISPLAY = 6;
export const SESSION_REPLY = 7;

/** The cell's end, as the launcher reports it. */
const cellResultSchema = z.object({
  nonce: z.string(),
  status: z.enum(['ok', 'error', 'interrupted']),
  kernel_restarted: z.boolean(),
  detail: z.string(),
  execution_count: z.number().int().nonnegative(),
  max_rss_kb: z.number().nonnegative(),
});
export type CellResultFrame = z.infer<typeof cellResultSchema>;

const displaySchema = z.object({
  kind: z.enum(DISPLAY_KINDS),
  data: z.record(z.string().max(255), z.string()),
});

const replyHeaderSchema = z.object({
  nonce: z.string(),
  ok: z.boolean(),
  size: z.number().int().nonnegative().optional(),
  error: z.string().optional(),
  message: z.string().optional(),
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative() })).optional(),
  truncated: z.boolean().optional(),
});
export type ReplyHeader = z.infer<typeof replyHeaderSchema>;

/** Everything from a sandbox is untrusted: each parser throws on anything but the expected shape. */
export function parseCellResult(payload: Buffer): CellResultFrame {
  return cellResultSchema.parse(JSON.parse(payload.toString('utf8')));
}

/** A display's MIME bundle as bytes: text types as UTF-8, the others from Jupyter's base64. */
export function parseDisplay(payload: Buffer): Display {
  const frame = displaySchema.parse(JSON.parse(payload.toString('utf8')));
  const data: Record<string, Buffer> = {};
  for (const [mimeType, value] of Object.entries(frame.data)) {
    data[mimeType] = isTextMimeType(mimeType) ? Buffer.from(value, 'utf8') : Buffer.from(value, 'base64');
  }
  return { kind: frame.kind, data };
}

export function parseReply(payload: Buffer): { header: ReplyHeader; content: Buffer } {
  const newline = payload.indexOf(0x0a);
  if (newline < 0) throw new Error('reply without a header line');
  const header = replyHeaderSchema.parse(JSON.parse(payload.subarray(0, newline).toString('utf8')));
  return { header, content: payload.subarray(newline + 1) };
}
