import { describe, expect, it } from 'vitest';
import { OutputText } from '../../clients/typescript/src/output-text.js';

describe('OutputText', () => {
  it('hands callbacks whole characters when a chunk boundary splits one', () => {
    const pieces: string[] = [];
    const output = new OutputText((text) => pieces.push(text));
    // 'a' (1 byte), 'é' (2), '€' (3), '😀' (4): cut inside each multi-byte character.
    const bytes = Buffer.from('aé€😀');
    const cuts = [0, 2, 4, 5, 7, 9, bytes.length];
    for (let index = 1; index < cuts.length; index++)
      output.push(bytes.subarray(cuts[index - 1], cuts[index]));
    output.end();
    expect(output.text).toBe('aé€😀');
    expect(pieces.join('')).toBe('aé€😀');
    expect(pieces.every((piece) => !piece.includes('\ufffd'))).toBe(true);
  });
});
