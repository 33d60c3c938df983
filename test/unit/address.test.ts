import { describe, expect, it } from 'vitest';
import { addressKey, clientAddress, parseTrustProxy } from '../../src/http/address.js';

describe('client addresses', () => {
  it('groups IPv6 by /64 and maps IPv4-mapped addresses to IPv4', () => {
    expect(addressKey('1.2.3.4')).toBe('1.2.3.4');
    expect(addressKey('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:1:2:ffff::')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8::1.2.3.4')).toBe('2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientAddress('::ffff:1.2.3.4', undefined, parseTrustProxy(''))).toBe('1.2.3.4');
  });

  it('believes X-Forwarded-For only from trusted proxies, right to left', () => {
    const trusted = parseTrustProxy('127.0.0.1, 10.0.0.0/8, ::1');
    // Untrusted peer: its header is ignored.
    expect(clientAddress('8.8.8.8', '9.9.9.9', trusted)).toBe('8.8.8.8');
    // Trusted peer: the right-most hop that is not a trusted proxy.
    expect(clientAddress('127.0.0.1', '1.1.1.1, 9.9.9.9, 10.1.1.1', trusted)).toBe('9.9.9.9');
    expect(clientAddress('::1', ['1.1.1.1', '9.9.9.9'], trusted)).toBe('9.9.9.9');
    // Garbage in the header: the last trusted hop is all we know.
    expect(clientAddress('::ffff:127.0.0.1', 'junk', trusted)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', undefined, trusted)).toBe('127.0.0.1');
    // Nothing trusted by default.
    expect(clientAddress('127.0.0.1', '9.9.9.9', parseTrustProxy(''))).toBe('127.0.0.1');
  });

  it.each(['1.2.3', '1.2.3.4/33', '::1/129', 'example.com', '1.2.3.4/8/1', '1.2.3.4/x'])(
    'refuses the trust list entry %j with a sentence',
    (entry) => {
      expect(() => parseTrustProxy(entry)).toThrow(/is not an IP address|prefix length/);
    },
  );
});
