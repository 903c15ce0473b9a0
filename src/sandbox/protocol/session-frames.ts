import { z } from 'zod';
import { DISPLAY_KINDS, isTextMimeType, type Display } from '../../domain/display.js';
import { checkFields, SANDBOX_PROTOCOL } from './sandbox-protocol.js';

/**
 * The records of a session launcher's frames (sandbox-runtime/protocol.json, `session`): each schema
 * is checked against the file's field list at load, like the one-shot records in sandbox-protocol.ts.
 */

/** The cell's end, as the launcher reports it. */
const cellResultSchema = z.strictObject({
  nonce: z.string(),
  status: z.enum(['ok', 'error', 'interrupted']),
  kernel_restarted: z.boolean(),
  detail: z.string().max(4096),
  execution_count: z.int().nonnegative(),
  run_ms: z.number().nonnegative(),
  max_rss_kb: z.number().nonnegative(),
});
export type CellResultFrame = z.infer<typeof cellResultSchema>;

const displaySchema = z.strictObject({
  kind: z.enum(DISPLAY_KINDS),
  data: z.record(z.string().max(255), z.string()),
});

const replyHeaderSchema = z.strictObject({
  nonce: z.string(),
  ok: z.boolean(),
  size: z.number().int().nonnegative().optional(),
  error: z.string().optional(),
  message: z.string().optional(),
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative() })).optional(),
  truncated: z.boolean().optional(),
});
export type ReplyHeader = z.infer<typeof replyHeaderSchema>;

checkFields('session.cell_result', cellResultSchema.shape, SANDBOX_PROTOCOL.session.cell_result);
checkFields('session.display', displaySchema.shape, SANDBOX_PROTOCOL.session.display);
checkFields('session.reply_header', replyHeaderSchema.shape, SANDBOX_PROTOCOL.session.reply_header);

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
