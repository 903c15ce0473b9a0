import type { CodeSandbox } from './code-sandbox.js';
import type { DownloadedFile, SessionFile } from './types.js';
import { bytesOf } from './wire.js';

/**
 * A session's working directory (/work). Paths are relative ("data/in.csv"; no "..", no leading
 * "/"). Calls wait for a running cell, as cells do.
 */
export class SessionFiles {
  /** Not for direct use: `session.files`. */
  constructor(
    private readonly sandbox: CodeSandbox,
    private readonly sessionId: string,
  ) {}

  /** Writes a file (replacing one of the same path); resolves with its size. */
  async write(
    path: string,
    content: string | Uint8Array,
    options: { signal?: AbortSignal } = {},
  ): Promise<number> {
    const response = (await this.sandbox.unary(
      'UploadFile',
      { session_id: this.sessionId, path, content: bytesOf(content) },
      this.sessionId,
      options.signal,
    )) as { size: number };
    return response.size;
  }

  /** Reads a file's bytes. A missing file is NotFoundError. */
  async read(path: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return (await this.download(path, options)).bytes;
  }

  /** Reads a file's bytes as UTF-8 text. */
  async readText(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return Buffer.from(await this.read(path, options)).toString('utf8');
  }

  /** Reads a file with its MIME type (from the extension) and size. */
  async download(path: string, options: { signal?: AbortSignal } = {}): Promise<DownloadedFile> {
    const response = (await this.sandbox.unary(
      'DownloadFile',
      { session_id: this.sessionId, path },
      this.sessionId,
      options.signal,
    )) as { path: string; mime_type: string; size: number; content: Buffer };
    return {
      path: response.path,
      mimeType: response.mime_type,
      size: response.size,
      bytes: response.content,
    };
  }

  /** The regular files in the working directory (at most 1000; symlinks are left out). */
  async list(options: { signal?: AbortSignal } = {}): Promise<SessionFile[]> {
    const response = (await this.sandbox.unary(
      'ListFiles',
      { session_id: this.sessionId },
      this.sessionId,
      options.signal,
    )) as { files: { path: string; size: number }[] };
    return response.files.map(({ path, size }) => ({ path, size }));
  }
}
