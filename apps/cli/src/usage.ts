import { decimalIntegerIn } from '@quittance/format';

/** Bad command line or unreadable input: exit status 2 with a clear message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A whole number given on the command line or in the environment: decimal digits only
 * (`0x10`, `1e3`, `1.5` and ` 8` are refused, as Number() would take them), within bounds.
 */
export function wholeNumber(
  name: string,
  value: string | undefined,
  bounds: { min: number; max: number; fallback: number },
): number {
  if (value === undefined) return bounds.fallback;
  const n = decimalIntegerIn(value, bounds.min, bounds.max);
  if (n === undefined)
    throw new UsageError(
      `${name} must be a whole number from ${bounds.min} to ${bounds.max}, not ${JSON.stringify(value)}`,
    );
  return n;
}
