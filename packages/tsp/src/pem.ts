import { fromBase64, toBase64 } from '@quittance/format';
import { TspError } from './errors';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * All certificates (DER) of a PEM text, in order. Blocks with other labels (keys, CRLs) are
 * skipped; a CERTIFICATE block whose body is not base64 throws `malformed`.
 */
export function parsePemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const match of pem.matchAll(PEM_BLOCK)) {
    if (match[1] !== 'CERTIFICATE') continue;
    const body = (match[2] ?? '').replace(/\s+/g, '');
    if (body.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw new TspError('malformed', `PEM certificate block ${out.length + 1} is not base64`);
    }
    out.push(fromBase64(body));
  }
  return out;
}

/** RFC 7468 text encoding: base64 in 64-column lines between BEGIN/END lines. */
export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const body = toBase64(der).replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
