import { readFileSync } from 'node:fs';

/** test/vectors/handshake.json: the contract's test vectors (a copy of shared/vectors/handshake.json). */
export interface HandshakeVectors {
  client: { publicKey: string; id: string; privateKeyPkcs8: string };
  otherKey: { publicKey: string; id: string };
  challengeTxt: string;
  solutions: { name: string; solution: string; valid: boolean }[];
  idCases: { name: string; id: string; publicKey: string; matches: boolean }[];
  invalidIds: string[];
  legacyKeys: { name: string; publicKey: string; id: string; solution: string; valid: boolean }[];
}

const path = new URL('../vectors/handshake.json', import.meta.url);

export const vectors = JSON.parse(readFileSync(path, 'utf8')) as HandshakeVectors;
