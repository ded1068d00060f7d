/**
 * Program settings, one program per company (SQL: ensure_program, get_program,
 * update_program_settings). Defaults for a company seen the first time: 20%
 * commission, 14-day hold, $10 minimum payout, 90-day attribution window, USD.
 */
import { z } from "zod";
import { rpc } from "../db";
import { decimalToCents, percentToBasisPoints } from "../money";

export const Program = z.object({
  company_id: z.string(),
  name: z.string(),
  commission_rate_bp: z.number().int(),
  hold_days: z.number().int(),
  min_payout_cents: z.number().int(),
  attribution_window_days: z.number().int(),
  recurring_months: z.number().int(),
  currency: z.string(),
  plan_id: z.string().nullable(),
  landing_url: z.string().nullable(),
  is_active: z.boolean(),
});
export type Program = z.infer<typeof Program>;

export function getProgram(companyId: string): Promise<Program> {
  return rpc("get_program", { p_company_id: companyId }, Program);
}

/**
 * What the settings form sends: percent with ≤ 2 decimals, whole days, a decimal
 * minimum payout in the program currency, optional Whop plan id and https landing URL.
 */
export const settingsForm = (currency: string) =>
  z.object({
  commission_percent: z
    .string()
    .transform((v, ctx) => {
      const bp = percentToBasisPoints(v);
      if (bp === null) ctx.addIssue({ code: "custom", message: "Commission must be a percent from 0 to 100, at most 2 decimals" });
      return bp ?? 0;
    }),
  hold_days: z.coerce.number({ message: "Hold period must be a whole number of days" }).int("Hold period must be a whole number of days").min(0).max(365, "Hold period is at most 365 days"),
  min_payout: z.string().transform((v, ctx) => {
    const cents = decimalToCents(v, currency);
    if (cents === null) ctx.addIssue({ code: "custom", message: "Minimum payout must be an amount like 10 or 25.50" });
    return cents ?? 0;
  }),
  plan_id: z
    .string()
    .trim()
    .refine((v) => v === "" || /^plan_[A-Za-z0-9]+$/.test(v), "Plan id looks like plan_XXXXXXXX"),
  landing_url: z
    .string()
    .trim()
    .refine((v) => v === "" || /^https?:\/\/[^\s]+$/i.test(v), "Landing URL must start with https://"),
  });

/**
 * Validate and save the settings form. Returns the saved program, or the zod field
 * errors (nothing written).
 */
export async function saveSettings(
  companyId: string,
  currency: string,
  form: Record<string, unknown>,
): Promise<{ ok: true; program: Program } | { ok: false; errors: Record<string, string> }> {
  const parsed = settingsForm(currency).safeParse(form);
  if (!parsed.success) {
    const errors: Record<string, string> = {};
    for (const issue of parsed.error.issues) errors[String(issue.path[0])] ??= issue.message;
    return { ok: false, errors };
  }
  const s = parsed.data;
  const program = await rpc(
    "update_program_settings",
    {
      p_company_id: companyId,
      p_settings: {
        commission_rate_bp: s.commission_percent,
        hold_days: s.hold_days,
        min_payout_cents: s.min_payout,
        plan_id: s.plan_id,
        landing_url: s.landing_url,
      },
    },
    Program,
  );
  return { ok: true, program };
}
