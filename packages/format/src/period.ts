// Snapshot periods (SPEC §5): the key history is published once per UTC month, `YYYY-MM`, at
// `/.well-known/jwks/snapshot/<YYYY-MM>.json`, and every receipt names the one of its
// createdAt in jwksSnapshotUrl (SPEC §1).

/** `YYYY-MM` with a real month, 01 to 12. */
const PERIOD_PATTERN = /^\d{4}-(?:0[1-9]|1[0-2])$/;

const SNAPSHOT_FILE = /^(\d{4}-(?:0[1-9]|1[0-2]))\.json$/;
// As the verifier, the bundle writer and the bundle verifier have always read it: whatever
// `YYYY-MM` ends the URL. The verifier then requires it to equal createdAt's period.
const SNAPSHOT_URL_PERIOD = /(\d{4}-\d{2})\.json$/;

/** Whether `value` is a `YYYY-MM` period with a real month. */
export function isPeriod(value: unknown): value is string {
  return typeof value === 'string' && PERIOD_PATTERN.test(value);
}

/** `YYYY-MM` of a time, in UTC: the snapshot period a receipt created then names. */
export function periodOf(time: string | Date): string {
  const iso = typeof time === 'string' ? new Date(time).toISOString() : time.toISOString();
  return iso.slice(0, 7);
}

/** The path of a period's snapshot below the service's public URL (SPEC §5, §8). */
export function snapshotUrlPath(period: string): string {
  return `/.well-known/jwks/snapshot/${period}.json`;
}

/** The period of a snapshot file name `YYYY-MM.json`, or undefined when it is not one. */
export function periodOfSnapshotFile(name: string): string | undefined {
  return SNAPSHOT_FILE.exec(name)?.[1];
}

/**
 * The period a jwksSnapshotUrl names: the `YYYY-MM` before its closing `.json`, or undefined.
 * Its month is not checked here: a receipt's URL must name the period of its createdAt, which
 * the verifier compares.
 */
export function periodOfSnapshotUrl(url: string): string | undefined {
  return SNAPSHOT_URL_PERIOD.exec(url)?.[1];
}
