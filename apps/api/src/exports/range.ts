import { type Jurisdiction, retentionStart } from '@quittance/format';

export interface ExportParams {
  jurisdiction: Jurisdiction;
  from?: string | undefined;
  to?: string | undefined;
  orderId?: string | undefined;
  includeBodies?: boolean | undefined;
}

/** The time range of an export: the retention window, narrowed by `from` and `to`. */
export function exportWindow(params: ExportParams, now: Date): { from: Date; to: Date } {
  const start = retentionStart(now, params.jurisdiction);
  const from =
    params.from && Date.parse(params.from) > start.getTime() ? new Date(params.from) : start;
  const to = params.to && Date.parse(params.to) < now.getTime() ? new Date(params.to) : now;
  // Never a manifest whose range ends before it starts (from > to, refused on request).
  return { from: from > to ? to : from, to };
}
