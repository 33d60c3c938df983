/**
 * docs/protocol.md documents every code of the error catalog with the status
 * and close code the relay really uses: the HTTP table (`| 400 | \`code\``)
 * for every code an HTTP answer can carry, the close-code table for the
 * codes a socket is closed with.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOG, type ErrorCode } from '../../src/errors.js';

const doc = readFileSync(join(import.meta.dirname, '../../docs/protocol.md'), 'utf8');

/** code -> the numbers of the rows naming it, from table rows `| <digits> | \`code\` |`. */
function rows(digits: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const row = new RegExp(`^\\| (\\d{${digits}}) +\\| \`([a-z_]+)\` +\\|`, 'gm');
  for (const m of doc.matchAll(row)) out.set(m[2]!, [...(out.get(m[2]!) ?? []), Number(m[1])]);
  return out;
}

/** Codes a socket can get but an HTTP answer never carries. */
const SOCKET_ONLY: ErrorCode[] = ['slow_consumer', 'handshake_timeout'];
/** Codes a socket is closed with (the relay's own closes; 1008 has no code). */
const CLOSES: ErrorCode[] = [
  'going_away',
  'too_large',
  'internal',
  'bad_request',
  'unauthorized',
  'slow_consumer',
  'rate_limited',
  'too_many_sockets',
  'handshake_timeout',
];

describe('error catalog in docs/protocol.md', () => {
  const http = rows(3);
  const closes = rows(4);

  it('every code an HTTP answer can carry has a row with its status', () => {
    for (const [code, { status }] of Object.entries(CATALOG)) {
      if (SOCKET_ONLY.includes(code as ErrorCode)) continue;
      expect(http.get(code), code).toEqual([status]);
    }
  });

  it('every code a socket is closed with has a row with its close code', () => {
    for (const code of CLOSES) expect(closes.get(code), code).toEqual([CATALOG[code].close]);
  });

  it('no row names a code that is not in the catalog', () => {
    for (const code of [...http.keys(), ...closes.keys()]) expect(CATALOG).toHaveProperty(code);
  });
});
