/** A self-signed P-256 certificate for localhost and 127.0.0.1 (one day), made with openssl. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './cleanup.js';

/** Writes cert.pem and key.pem to a new temp dir (removed after the run) and returns their paths. */
export function selfSignedCert(prefix: string): { cert: string; key: string } {
  const dir = tempDir(prefix);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
