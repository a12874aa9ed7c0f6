import { readFileSync } from 'node:fs';
import { JURISDICTIONS, RETENTION } from '@quittance/bundle';
import { describe, expect, it } from 'vitest';
import { bundleKey } from '../src';

const infra = (path: string) =>
  readFileSync(new URL(`../../../infra/${path}`, import.meta.url), 'utf8');

/** The fewest days that always cover `years` calendar years (the most leap days they hold). */
const daysCovering = (years: number) => years * 365 + Math.ceil(years / 4);

describe('the lifecycle rules in infra/ match the retention of SPEC §9', () => {
  it('expire each jurisdiction prefix after its retention, never before', () => {
    const minio = JSON.parse(infra('minio/lifecycle.json')) as {
      Rules: { Filter: { Prefix: string }; Expiration?: { Days: number } }[];
    };
    const aws = infra('aws/quittance-bundles.yaml');
    for (const jurisdiction of JURISDICTIONS) {
      const days = daysCovering(RETENTION[jurisdiction].years);
      // The prefix the rules match is the one the keys begin with.
      const key = bundleKey({ jurisdiction, merchantId: 'm', exportId: 'e' });
      expect(key.startsWith(`${jurisdiction}/`)).toBe(true);

      const rule = minio.Rules.find((r) => r.Filter.Prefix === `exports/${jurisdiction}/`);
      expect(rule?.Expiration?.Days, `infra/minio ${jurisdiction}`).toBe(days);
      const cfn = new RegExp(
        `Prefix: !Sub '\\$\\{Prefix\\}/${jurisdiction}/'\\s+ExpirationInDays: (\\d+)`,
      ).exec(aws);
      expect(Number(cfn?.[1]), `infra/aws ${jurisdiction}`).toBe(days);
    }
  });
});
