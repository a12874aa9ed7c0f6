import { toHex } from '@quittance/format';
import * as asn1js from 'asn1js';
import { RelativeDistinguishedNames } from 'pkijs';
import { bytesEqual, parseAsn1 } from './bytes';
import { encodingOf, type Tlv } from './der';

// RFC 4514 §3 short names, plus the few RFC 4519 ones TSAs actually use.
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.97': 'ORGANIZATIONIDENTIFIER',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'EMAILADDRESS',
};

/**
 * An X.500 name as an RFC 4514 string, e.g. `CN=Test TSA,O=Quittance Test`: RDNs from last to
 * first, multi-valued RDNs joined with `+`, unknown attribute types as dotted OID with the
 * value as `#` hex of its DER.
 */
export function formatName(name: RelativeDistinguishedNames): string {
  const parsed = asn1js.fromBER(name.valueBeforeDecode);
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence)) {
    // Unreachable for names pkijs parsed itself; keep a readable fallback rather than throwing.
    return name.typesAndValues.map((tv) => `${tv.type}=#${toHex(valueDer(tv.value))}`).join(',');
  }
  const rdns = parsed.result.valueBlock.value.map((rdn) =>
    (rdn as asn1js.Set).valueBlock.value
      .map((atv) => {
        const [type, value] = (atv as asn1js.Sequence).valueBlock.value;
        const oid = (type as asn1js.ObjectIdentifier).getValue();
        const short = SHORT_NAMES[oid];
        if (short && value instanceof asn1js.BaseStringBlock) {
          return `${short}=${escapeValue(value.getValue())}`;
        }
        return `${short ?? oid}=#${toHex(valueDer(value))}`;
      })
      .join('+'),
  );
  return rdns.reverse().join(',');
}

function valueDer(value: asn1js.AsnType | undefined): Uint8Array {
  return value ? new Uint8Array(value.toBER()) : new Uint8Array();
}

function escapeValue(value: string): string {
  let out = value.replace(/[\\"+,;<>]/g, '\\$&').replace(/\0/g, '\\00');
  if (value.startsWith(' ') || value.startsWith('#')) out = `\\${out}`;
  // A single space was escaped as leading already; the regex above never escapes a space.
  if (value.endsWith(' ') && value.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/**
 * Whether the Name in `tlv` names the same entity as `name`, whose DER is `nameDer`: byte-equal
 * (the usual case, and no parse needed), or equal by pkijs' rules, which compare string values
 * after stringprep and so accept a TSA that re-encoded the name.
 *
 * @throws when `tlv` does not hold a Name.
 */
export function isSameName(
  name: RelativeDistinguishedNames,
  tlv: Tlv,
  nameDer: Uint8Array,
): boolean {
  const der = encodingOf(tlv);
  if (bytesEqual(der, nameDer)) return true;
  return name.isEqual(new RelativeDistinguishedNames({ schema: parseAsn1(der.slice(), 'Name') }));
}
