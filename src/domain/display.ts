/**
 * Rich output of a session cell, as Jupyter defines it: `execute_result` is the value of the cell's
 * last expression, `display_data` anything shown with display() or a plot. `data` is a MIME bundle:
 * the same content in several representations (e.g. `text/plain` and `image/png`), as bytes.
 */
export interface Display {
  kind: DisplayKind;
  data: Record<string, Buffer>;
}

export const DISPLAY_KINDS = ['execute_result', 'display_data'] as const;
export type DisplayKind = (typeof DISPLAY_KINDS)[number];

/**
 * Whether a MIME type's content is text. Jupyter's own rule: text, JSON, XML-based and JavaScript
 * types are sent as text; everything else (image/png, …) as base64 of the bytes.
 */
export function isTextMimeType(mimeType: string): boolean {
  return /^(text\/.*|.*\+xml|.*json|application\/javascript)$/i.test(mimeType);
}
