import { describe, expect, it } from 'vitest';
import { canonicalIpLiteral, parseIpLiteral } from '../../src/domain/ip-literal.js';
import { ipv6Spellings, SPECIAL_IPV4, specialSpellings } from '../support/address-spellings.js';

describe('parseIpLiteral / canonicalIpLiteral', () => {
  it('gives every spelling of an address the text WHATWG URL parsing gives it (one spelling for both proxy paths)', () => {
    const samples = [
      ...specialSpellings().map(({ spelling }) => spelling),
      ...ipv6Spellings([0x2606, 0x4700, 0, 0, 0, 0, 0, 0x1111]),
      ...ipv6Spellings([1, 0, 0, 2, 0, 0, 0, 3]),
      ...ipv6Spellings([1, 0, 2, 0, 3, 0, 4, 0]),
    ];
    const differing = samples.filter((spelling) => {
      const whatwg = new URL(`http://${spelling.includes(':') ? `[${spelling}]` : spelling}/`).hostname;
      return canonicalIpLiteral(spelling) !== whatwg.replace(/^\[|\]$/g, '');
    });
    expect(differing).toEqual([]);
  });

  it('reads the dotted tail as the last 32 bits', () => {
    expect(Array.from(parseIpLiteral('::ffff:169.254.169.254')?.bytes ?? [])).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 169, 254, 169, 254,
    ]);
  });

  it.each([
    ...SPECIAL_IPV4.map((address) => address.replace(/^(\d+)/, '0$1')),
    '0x7f.0.0.1',
    '127.1',
    '2130706433',
    '1.2.3.4.5',
    'fe80::1%eth0',
    'fe80::1%25eth0',
    '::ffff:127.0.0.01',
    '1:2:3:4:5:6:1.2.3.4:7',
    '::1.2.3.4:5',
    '00000::1',
    '1::2::3',
    ':1::2',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '[::1]',
    ' ::1',
    '',
  ])('is not a literal: %j', (text) => {
    expect(parseIpLiteral(text)).toBeUndefined();
  });
});
