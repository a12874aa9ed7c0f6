import { type Jurisdiction, RETENTION } from '@quittance/bundle';

export interface ExportParams {
  jurisdiction: Jurisdiction;
  from?: string | undefined;
  to?: string | undefined;
  orderId?: string | undefined;
  includeBodies?: boolean | undefined;
}

/** The first instant still inside a retention of `years`, counted back from `now`. */
export function retentionStart(now: Date, years: number): Date {
  const start = new Date(now);
  start.setUTCFullYear(start.getUTCFullYear() - years);
  return start;
}

/** The time range of an export: the retention window, narrowed by `from` and `to`. */
export function exportWindow(params: ExportParams, now: Date): { from: Date; to: Date } {
  const start = retentionStart(now, RETENTION[params.jurisdiction].years);
  const from =
    params.from && Date.parse(params.from) > start.getTime() ? new Date(params.from) : start;
  const to = params.to && Date.parse(params.to) < now.getTime() ? new Date(params.to) : now;
  return { from, to };
}
