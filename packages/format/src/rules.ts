/** Field rules of SPEC §1, shared by the validators here and by the API's schemas. */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9._:~-]{1,128}$/;
export const IDENTIFIER_MAX_LENGTH = 128;
export const NONCE_PATTERN = /^[\x20-\x7e]{1,256}$/;
export const NONCE_MAX_LENGTH = 256;
export const HASH_PATTERN = /^[0-9a-f]{64}$/;
export const RECEIPT_ID_PATTERN = /^trcpt_[0-9A-HJKMNP-TV-Z]{26}$/;
/** RFC 3339, UTC, exactly millisecond precision, `Z`. */
export const TIMESTAMP_MS_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** `<merchantId>-<YYYY>Q<n>`, with `-<k>` for an extra rotation in a quarter (SPEC §5). */
export const KID_PATTERN = /^([A-Za-z0-9._:~-]{1,128})-(\d{4})Q([1-4])(?:-([1-9]\d{0,5}))?$/;
export const DETACHED_JWS_PATTERN = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/;
export const OID_PATTERN = /^[0-2](?:\.(?:0|[1-9]\d*))+$/;

export function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && IDENTIFIER_PATTERN.test(value);
}

export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_PATTERN.test(value);
}

/** True for an RFC 3339 UTC time with millisecond precision that names a real instant. */
export function isTimestampMs(value: unknown): value is string {
  if (typeof value !== 'string' || !TIMESTAMP_MS_PATTERN.test(value)) return false;
  const time = Date.parse(value);
  return Number.isFinite(time) && new Date(time).toISOString() === value;
}

/** True for an RFC 3339 date-time of any precision with `Z` or a numeric offset. */
export function isRfc3339(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/.test(value) &&
    Number.isFinite(Date.parse(value))
  );
}

export function isAbsoluteHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Millisecond-precision UTC text of a time, the only form `createdAt` takes. */
export function toTimestampMs(time: Date | number): string {
  return new Date(time).toISOString();
}
