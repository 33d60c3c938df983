/** The RESP a script call writes (src/redis/script.ts encodeCommand), byte for byte. */
import { describe, expect, it } from 'vitest';
import { encodeCommand, Joined } from '../../src/redis/script.js';

const bytes = (x: string | Buffer) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x);

describe('encodeCommand', () => {
  it('text arguments: one string, each bulk length in bytes', () => {
    const out = encodeCommand('evalsha', ['abc', 2, 'k', 'é€', '']);
    expect(typeof out).toBe('string');
    expect(out).toBe(
      '*6\r\n$7\r\nevalsha\r\n$3\r\nabc\r\n$1\r\n2\r\n$1\r\nk\r\n$5\r\né€\r\n$0\r\n\r\n',
    );
  });

  it('numbers are written as their decimal digits', () => {
    expect(encodeCommand('x', [0, -7, 1700000000123, 2.5])).toBe(
      '*5\r\n$1\r\nx\r\n$1\r\n0\r\n$2\r\n-7\r\n$13\r\n1700000000123\r\n$3\r\n2.5\r\n',
    );
  });

  it('binary arguments: one buffer, the bytes as given (not UTF-8 text)', () => {
    const blob = Buffer.from([0xff, 0x00, 0xfe, 0x0d, 0x0a]);
    const out = encodeCommand('set', ['k', blob, Buffer.alloc(0), 'é']);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(bytes(out)).toEqual(
      Buffer.concat([
        Buffer.from('*5\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\n'),
        blob,
        Buffer.from('\r\n$0\r\n\r\n$2\r\né\r\n'),
      ]),
    );
  });

  it('a Joined argument is one bulk string: head then tail, length of both', () => {
    const tail = new Uint8Array([1, 2, 0xff]);
    const out = encodeCommand('hset', ['m', new Joined('1:2:é:', tail), 'z']);
    expect(bytes(out)).toEqual(
      Buffer.concat([
        Buffer.from('*4\r\n$4\r\nhset\r\n$1\r\nm\r\n$10\r\n1:2:é:'),
        Buffer.from(tail),
        Buffer.from('\r\n$1\r\nz\r\n'),
      ]),
    );
  });

  it('a tail that is a view into a larger buffer writes only its own bytes', () => {
    const big = Buffer.from('0123456789');
    const out = encodeCommand('a', [big.subarray(3, 6), new Joined('h', big.subarray(8))]);
    expect(bytes(out).toString()).toBe('*3\r\n$1\r\na\r\n$3\r\n345\r\n$3\r\nh89\r\n');
  });
});
