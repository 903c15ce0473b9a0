/**
 * One output stream: decodes UTF-8 across chunks (a character may be split between two), reports each
 * decoded piece, keeps the whole text. Bytes that are not UTF-8 become U+FFFD.
 */
export class OutputText {
  private readonly decoder = new TextDecoder('utf-8');
  text = '';

  constructor(private readonly onText: ((text: string) => void) | undefined) {}

  push(bytes: Uint8Array): void {
    this.emit(this.decoder.decode(bytes, { stream: true }));
  }

  end(): void {
    this.emit(this.decoder.decode());
  }

  private emit(text: string): void {
    if (text === '') return;
    this.text += text;
    this.onText?.(text);
  }
}
