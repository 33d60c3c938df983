/**
 * Who is asking: the client address of a request (the peer, or what a trusted
 * reverse proxy says in X-Forwarded-For), and the key that limits count it
 * under. An IPv6 client gets a whole /64 from its provider, so all of it
 * counts as one address; an IPv4-mapped IPv6 address counts as the IPv4 one.
 */
import { BlockList, isIP } from 'node:net';

/** Trust lists without entries: checking them would still build an address object per call. */
const EMPTY = new WeakSet<BlockList>();

/** Parses NPCHAT_TRUST_PROXY: comma-separated addresses or CIDR ranges. */
export function parseTrustProxy(list: string): BlockList {
  const trusted = new BlockList();
  if (list.trim() === '') EMPTY.add(trusted);
  for (const raw of list.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [ip, bits, extra] = entry.split('/');
    const family = isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined) {
      throw new Error(`${JSON.stringify(entry)} is not an IP address or CIDR range`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) {
      trusted.addAddress(ip!, type);
    } else if (/^\d{1,3}$/.test(bits) && Number(bits) <= max) {
      trusted.addSubnet(ip!, Number(bits), type);
    } else {
      throw new Error(`${JSON.stringify(entry)} has a prefix length outside 0-${max}`);
    }
  }
  return trusted;
}

function unmapped(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Whether `ip` (IPv4-mapped or not) is one of the trusted proxies. */
export function isTrusted(trusted: BlockList, rawIp: string): boolean {
  if (EMPTY.has(trusted)) return false;
  const ip = unmapped(rawIp);
  const family = isIP(ip);
  return family !== 0 && trusted.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the peer's, unless the peer is a trusted proxy; then
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy
 * (entries further left were written by the client and prove nothing).
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: BlockList,
): string {
  let ip = unmapped(peer ?? '');
  if (!isTrusted(trusted, ip) || forwardedFor === undefined) return ip;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((h) => unmapped(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return ip; // garbage: the last good hop is all we know
    ip = hop;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return ip;
}

/** Expands an IPv6 address into its eight 16-bit groups. */
function groups(ip: string): number[] {
  // A trailing dotted IPv4 part (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const text = ip
    .split('%')[0]!
    .replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
      [(+a << 8) | +b, (+c << 8) | +d].map((g) => g.toString(16)).join(':'),
    );
  const parse = (s: string | undefined) =>
    s ? s.split(':').map((g) => parseInt(g, 16)) : ([] as number[]);
  const [head, rest] = text.split('::');
  const left = parse(head);
  const right = parse(rest);
  const zeros = new Array<number>(Math.max(8 - left.length - right.length, 0)).fill(0);
  return [...left, ...zeros, ...right];
}

/** The key an address counts under: IPv4 (IPv4-mapped too) as is, IPv6 as its /64. */
export function addressKey(rawIp: string): string {
  const ip = unmapped(rawIp);
  if (isIP(ip) !== 6) return ip;
  return (
    groups(ip)
      .slice(0, 4)
      .map((g) => g.toString(16))
      .join(':') + '::/64'
  );
}
