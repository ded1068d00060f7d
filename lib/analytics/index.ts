/**
 * Analytics (SQL: get_overview, check_analytics, rebuild_analytics, repair_analytics,
 * set_program_timezone). Every figure comes from rollups kept in the write transactions
 * (daily_stats, daily_sources, member_daily, referral_stats, member_money; see the
 * analytics migration), in the program currency, with days in the program's time zone.
 */
import { z } from "zod";
import { rpc } from "../db";

const Kpis = z.object({
  clicks: z.number().int(),
  signups: z.number().int(),
  conversions: z.number().int(),
  revenue_cents: z.number().int(),
  /** net commission movement in the period (earned minus reversals), cents */
  commissions_cents: z.number().int(),
  /** payouts completed in the period, cents */
  paid_cents: z.number().int(),
  /** members with at least one conversion in the period */
  active_referrers: z.number().int(),
});
export type Kpis = z.infer<typeof Kpis>;

const Ranked = z.object({ user_id: z.string(), username: z.string(), conversions: z.number().int(), revenue_cents: z.number().int() });

export const Overview = z.object({
  currency: z.string(),
  timezone: z.string(),
  granularity: z.enum(["day", "week"]),
  kpis: z.object({ current: Kpis, previous: Kpis }),
  /** commissions owed now: pending + available + on hold, cents */
  owed_cents: z.number().int(),
  series: z.array(
    z.object({
      bucket: z.string(),
      clicks: z.number().int(),
      signups: z.number().int(),
      conversions: z.number().int(),
      revenue_cents: z.number().int(),
      commissions_cents: z.number().int(),
    }),
  ),
  top_by_revenue: z.array(Ranked),
  top_by_conversions: z.array(Ranked),
  sources: z.array(z.object({ value: z.string(), clicks: z.number().int() })),
  countries: z.array(z.object({ value: z.string(), clicks: z.number().int() })),
});
export type Overview = z.infer<typeof Overview>;

/** The date ranges the Overview offers. */
export const RANGES = { "7d": 7, "30d": 30, "90d": 90, "12m": 365 } as const;
export type RangeKey = keyof typeof RANGES | "custom";

const isoDate = z.iso.date();

/**
 * The range of a query `{range, from, to}` as local dates (YYYY-MM-DD) ending `today`:
 * a preset (default 30 days) or custom from/to (to ≥ from, ≤ 3 years). Returns an error
 * message instead when a custom range is malformed.
 */
export function resolveRange(
  query: { range?: string; from?: string; to?: string },
  today: string,
): { key: RangeKey; from: string; to: string; error?: string } {
  const shift = (d: string, days: number) => new Date(Date.parse(`${d}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
  const preset = (key: keyof typeof RANGES) => ({ key, from: shift(today, 1 - RANGES[key]), to: today });
  if (query.range === "custom") {
    const from = isoDate.safeParse(query.from);
    const to = isoDate.safeParse(query.to);
    if (!from.success || !to.success) return { ...preset("30d"), error: "Pick both dates of a custom range" };
    if (to.data < from.data) return { ...preset("30d"), error: "The range must end after it starts" };
    if (Date.parse(to.data) - Date.parse(from.data) > 1100 * 86_400_000) return { ...preset("30d"), error: "Pick a range of at most 3 years" };
    return { key: "custom", from: from.data, to: to.data };
  }
  return preset(query.range && query.range in RANGES ? (query.range as keyof typeof RANGES) : "30d");
}

/** Today's date (YYYY-MM-DD) in an IANA time zone. */
export function todayIn(timeZone: string, now = new Date()): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

/** The Overview for local dates [from, to] (inclusive); the previous period is as long, just before. */
export function getOverview(companyId: string, from: string, to: string): Promise<Overview> {
  return rpc("get_overview", { p_company_id: companyId, p_from: from, p_to: to }, Overview);
}

/**
 * Change in percent from `previous` to `current` (one decimal), or null when there is no
 * previous figure to compare with.
 */
export function change(current: number, previous: number): number | null {
  if (previous === 0) return null;
  return Math.round(((current - previous) / Math.abs(previous)) * 1000) / 10;
}

/** Where the kept rollups differ from the source rows (empty when they agree). */
export function checkAnalytics(companyId: string) {
  return rpc(
    "check_analytics",
    { p_company_id: companyId },
    z.object({ ok: z.boolean(), differences: z.array(z.object({ table: z.string(), key: z.string(), side: z.string(), row: z.unknown() })) }),
  );
}

/** Job: rebuild the rollups of every company whose check fails. */
export function repairAnalytics() {
  return rpc("repair_analytics", {}, z.object({ checked: z.number().int(), repaired: z.array(z.string()) }));
}

/**
 * Set the program's time zone (an IANA name); its days are re-bucketed at once.
 * Throws DomainError 400 for an unknown zone.
 */
export function setTimezone(companyId: string, timezone: string) {
  return rpc("set_program_timezone", { p_company_id: companyId, p_timezone: timezone }, z.object({ timezone: z.string() }));
}
