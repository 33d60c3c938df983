import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeB64url, encodeB64url } from '../../src/client/b64url.js';

describe('base64url', () => {
  it('round-trips every length and matches Node', () => {
    for (let n = 0; n < 70; n++) {
      const b = randomBytes(n);
      const text = encodeB64url(b);
      expect(text).toBe(b.toString('base64url'));
      expect(Buffer.from(decodeB64url(text)!)).toEqual(b);
    }
  });

  it.each(['ab=c', 'ab+c', 'ab/c', 'a b', 'abc.', '*', 'é', 'A', 'AAAAA'])(
    'rejects %j instead of skipping characters',
    (text) => {
      expect(decodeB64url(text)).toBeNull();
    },
  );
});
