import { DECIMAL_INTEGER_PATTERN } from '@quittance/format';
import { z } from 'zod';

const WITH_FRACTION = /^[0-9]{1,15}(\.[0-9]{1,9})?$/;

/**
 * A number written in decimal digits (with a fraction when `fraction`), within min..max, for
 * text that carries numbers: query strings and the environment (DECIMAL_INTEGER_PATTERN).
 * Text that is not digits is left as it is, for the schema to refuse with `message(input)`;
 * range checks keep their own messages.
 */
export function decimalNumber(
  min: number,
  max: number,
  options: { fraction?: boolean; message: (input: unknown) => string },
) {
  const digits = options.fraction ? WITH_FRACTION : DECIMAL_INTEGER_PATTERN;
  const number = z.number({
    error: (issue) => (issue.code === 'invalid_type' ? options.message(issue.input) : undefined),
  });
  return z.preprocess(
    (value) => (typeof value === 'string' && digits.test(value) ? Number(value) : value),
    // `int` says "integer" in the API document; the digits alone already make it one.
    (options.fraction ? number : number.int()).min(min).max(max),
  );
}
