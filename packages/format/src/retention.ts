// Retention by jurisdiction (SPEC §9): how long receipts are exported and bodies kept before
// their data keys are destroyed (SPEC §7).

export const JURISDICTIONS = ['EU', 'US', 'BR', 'OTHER'] as const;
export type Jurisdiction = (typeof JURISDICTIONS)[number];

/** Years of retention per jurisdiction. */
export const RETENTION_YEARS: Readonly<Record<Jurisdiction, number>> = {
  EU: 6,
  US: 7,
  BR: 5,
  OTHER: 10,
};

export function isJurisdiction(value: unknown): value is Jurisdiction {
  return typeof value === 'string' && (JURISDICTIONS as readonly string[]).includes(value);
}

/**
 * The first instant still inside the retention window of `jurisdiction`: `now`, that many
 * years earlier (UTC; 29 February falls on 1 March of a common year).
 */
export function retentionStart(now: Date, jurisdiction: Jurisdiction): Date {
  const start = new Date(now);
  start.setUTCFullYear(start.getUTCFullYear() - RETENTION_YEARS[jurisdiction]);
  return start;
}
