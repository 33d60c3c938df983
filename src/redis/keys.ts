/**
 * Every Redis key of an inbox, in one place. All of them carry the hash tag
 * `{inbox}`, so they live in one Redis Cluster slot and one Lua script may
 * touch any of them atomically (the store's scripts read the hub's presence
 * hash in the same step as a reservation or an append).
 */

/** `P{I}:name`: the key `name` of inbox I under prefix P. */
export function inboxKey(prefix: string, inbox: string, name: string): string {
  return `${prefix}{${inbox}}:${name}`;
}

/**
 * `P{I}:p`: hash of node id -> presence expiry (ms since epoch) of the relay
 * nodes holding an authenticated socket of the inbox (written by the hub).
 */
export function presenceKey(prefix: string, inbox: string): string {
  return inboxKey(prefix, inbox, 'p');
}

/** The node ids of a presence hash (flat HGETALL reply) whose presence has not expired. */
export function liveNodes(flat: readonly string[], now = Date.now()): string[] {
  const nodes: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (Number(flat[i + 1]) > now) nodes.push(flat[i]!);
  }
  return nodes;
}
