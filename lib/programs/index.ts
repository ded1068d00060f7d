/**
 * Program settings, one program per company (SQL: ensure_program, get_program,
 * update_program_settings). Defaults for a company seen the first time: 20% commission,
 * 14-day hold, $10 minimum payout, 90-day attribution window, USD; levels off (max 1,
 * upper levels 5%, 2%, 1%, 1%), 12 recurring months, level 2 for 6 months;
 * manual weekly payouts; points 100 welcome, 500 first payment, 100 recurring, 50 level 2.
 */
import { z } from "zod";
import { DomainError, rpc } from "../db";
import { CHECK_TYPES, type CheckType } from "../fraud";
import { NotificationKind } from "../notifications";
import { basisPointsToPercent, centsToDecimal, decimalToCents, percentToBasisPoints } from "../money";

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
  mlm_enabled: z.boolean(),
  max_level: z.number().int(),
  upper_level_rates_bp: z.array(z.number().int()).length(4),
  level2_months: z.number().int(),
  commission_type: z.enum(["percentage", "flat"]),
  flat_amount_cents: z.number().int(),
  product_rates_bp: z.record(z.string(), z.number().int()),
  payout_mode: z.enum(["manual", "automatic"]),
  payout_frequency: z.enum(["daily", "weekly", "monthly"]),
  ledger_account_id: z.string().nullable(),
  points_welcome: z.number().int(),
  points_first_payment: z.number().int(),
  points_recurring: z.number().int(),
  points_l2: z.number().int(),
  points_recurring_months: z.number().int(),
  points_expiry_days: z.number().int().nullable(),
  /** IANA zone; the analytics' days are local days in it */
  timezone: z.string(),
  terms_confirmed_at: z.string().nullable(),
  /** fraud checks (lib/fraud): off runs none; flag only marks; hold holds a score ≥ fraud_hold_score */
  fraud_mode: z.enum(["off", "flag", "hold"]),
  fraud_hold_score: z.number().int(),
  /** conversions per referrer above which velocity_limit fires */
  fraud_velocity_hour: z.number().int(),
  fraud_velocity_day: z.number().int(),
  /** click to payment faster than this fires fast_conversion */
  fraud_min_seconds: z.number().int(),
  /** per-signal weight overrides of fraud_default_weights() */
  fraud_weights: z.record(z.string(), z.number().int()),
  /** streaks (lib/gamification): conversions within streak_window_days of each other multiply level 1 */
  streaks_enabled: z.boolean(),
  streak_window_days: z.number().int(),
  /** the multiplier's step per conversion and its cap, in percent (10 and 50: ×1.1 … ×1.5) */
  streak_step_pct: z.number().int(),
  streak_cap_pct: z.number().int(),
  /** tiers: bonus_pct (percentage points) added to the level-1 rate from a threshold on */
  tiers_enabled: z.boolean(),
  /** what the thresholds count: counted conversions (min_conversions) or lifetime commissions (min_commissions_cents) */
  tiers_by: z.enum(["conversions", "commissions"]),
  tiers: z.array(
    z.object({
      name: z.string(),
      min_conversions: z.number().int().optional(),
      min_commissions_cents: z.number().int().optional(),
      bonus_pct: z.number(),
      plan_id: z.string().optional(),
    }),
  ),
  /** surprise drops: the chance per counted conversion (percent) of drop_points points */
  drop_chance_pct: z.number().int(),
  drop_points: z.number().int(),
  /** the notification kinds (lib/notifications) the creator turned off */
  notifications_off: z.array(NotificationKind),
});
export type Program = z.infer<typeof Program>;

export function getProgram(companyId: string): Promise<Program> {
  return rpc("get_program", { p_company_id: companyId }, Program);
}

const percent = (label: string) =>
  z.string().transform((v, ctx) => {
    const bp = percentToBasisPoints(v);
    if (bp === null) ctx.addIssue({ code: "custom", message: `${label} must be a percent from 0 to 100, at most 2 decimals` });
    return bp ?? 0;
  });
const whole = (label: string, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `${label} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${label} must be from ${min} to ${max}`);
const FRAUD_MODES = ["off", "flag", "hold"] as const;

/** The settings form's name of a notification kind's checkbox (ticked = sent). */
export const notifyField = (kind: NotificationKind) => `notify_${kind}`;

/** The settings form's name of a signal's weight field. */
export const weightField = (check: CheckType) => `fraud_weight_${check}`;

const money = (label: string, currency: string) =>
  z.string().transform((v, ctx) => {
    const cents = decimalToCents(v, currency);
    if (cents === null) ctx.addIssue({ code: "custom", message: `${label} must be an amount like 10 or 25.50` });
    return cents ?? 0;
  });

/**
 * The settings form (every value a string, as a form sends it), validated and turned
 * into the settings of update_program_settings: percents → basis points, amounts → cents.
 * `product_rates` is "prod_X=15, prod_Y=12.5" (a level-1 rate per Whop product).
 */
export const settingsForm = (currency: string) =>
  z
    .object({
      commission_percent: percent("Commission"),
      commission_type: z.enum(["percentage", "flat"], { message: "Pick percentage or flat" }),
      flat_amount: money("Flat amount", currency),
      hold_days: whole("Hold period", 0, 365),
      recurring_months: whole("Recurring months", 0, 120),
      product_rates: z.string().transform((v, ctx) => {
        const rates: Record<string, number> = {};
        for (const part of v.split(",").map((p) => p.trim()).filter(Boolean)) {
          const m = /^(prod_[A-Za-z0-9]+)\s*=\s*(\S+)$/.exec(part);
          const bp = m ? percentToBasisPoints(m[2]) : null;
          if (!m || bp === null) {
            ctx.addIssue({ code: "custom", message: `Write product rates as prod_XXX=15, prod_YYY=12.5 ("${part}")` });
            return {};
          }
          rates[m[1]] = bp;
        }
        return rates;
      }),
      mlm_enabled: z.string().transform((v) => v === "on" || v === "true"),
      max_level: whole("Levels", 1, 5),
      level2_percent: percent("Level 2 rate"),
      level3_percent: percent("Level 3 rate"),
      level4_percent: percent("Level 4 rate"),
      level5_percent: percent("Level 5 rate"),
      level2_months: whole("Level 2+ months", 0, 120),
      min_payout: money("Minimum payout", currency),
      payout_mode: z.enum(["manual", "automatic"], { message: "Pick manual or automatic" }),
      payout_frequency: z.enum(["daily", "weekly", "monthly"], { message: "Pick daily, weekly or monthly" }),
      plan_id: z
        .string()
        .trim()
        .refine((v) => v === "" || /^plan_[A-Za-z0-9]+$/.test(v), "Plan id looks like plan_XXXXXXXX"),
      landing_url: z
        .string()
        .trim()
        .refine((v) => v === "" || /^https?:\/\/[^\s]+$/i.test(v), "Landing URL must start with https://"),
      points_welcome: whole("Welcome points", 0, 1_000_000),
      points_first_payment: whole("First payment points", 0, 1_000_000),
      points_recurring: whole("Recurring points", 0, 1_000_000),
      points_l2: whole("Level 2 points", 0, 1_000_000),
      points_recurring_months: whole("Recurring points months", 0, 120),
      points_expiry_days: z
        .string()
        .trim()
        .refine((v) => v === "" || (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 3650), "Expiry is empty (off) or 1 to 3650 days")
        .transform((v) => (v === "" ? null : Number(v))),
      fraud_mode: z.enum(FRAUD_MODES, { message: "Pick off, flag or hold" }),
      fraud_hold_score: whole("Hold score", 1, 100),
      fraud_velocity_hour: whole("Conversions per hour", 1, 100_000),
      fraud_velocity_day: whole("Conversions per day", 1, 100_000),
      fraud_min_seconds: whole("Fast purchase seconds", 0, 86_400),
      ...Object.fromEntries(CHECK_TYPES.map((c) => [weightField(c), whole("A weight", 0, 100)])),
      streaks_enabled: z.string().transform((v) => v === "on" || v === "true"),
      streak_window_days: whole("Streak window", 1, 90),
      streak_step_pct: whole("Streak step", 0, 100),
      streak_cap_pct: whole("Streak cap", 0, 100),
      tiers_enabled: z.string().transform((v) => v === "on" || v === "true"),
      tiers_by: z.enum(["conversions", "commissions"], { message: "Pick conversions or lifetime commissions" }),
      // "Name threshold bonus% [plan_…]"; the threshold is read as tiers_by says (below)
      tiers: z.string().transform((v, ctx) => {
        const tiers = [];
        for (const part of v.split(",").map((p) => p.trim()).filter(Boolean)) {
          const m = /^(.{1,40}?)\s+(\d[\d.,]{0,20})\s+(\d{1,3}(?:\.\d{1,2})?)\s*%(?:\s+(plan_[A-Za-z0-9]{1,40}))?$/.exec(part);
          if (!m) {
            ctx.addIssue({ code: "custom", message: `Write tiers as Bronze 0 0%, Silver 5 2%, Gold 20 5% plan_XXX ("${part}")` });
            return [];
          }
          tiers.push({ name: m[1], threshold: m[2], bonus_pct: Number(m[3]), ...(m[4] ? { plan_id: m[4] } : {}) });
        }
        return tiers;
      }),
      drop_chance_pct: whole("Drop chance", 0, 100),
      drop_points: whole("Drop points", 1, 1_000_000),
      ...Object.fromEntries(NotificationKind.options.map((k) => [notifyField(k), z.string()])),
    })
    .refine((s) => s.fraud_velocity_day >= s.fraud_velocity_hour, {
      path: ["fraud_velocity_day"],
      message: "Conversions per day must be at least the limit per hour",
    })
    .superRefine((s, ctx) => {
      for (const t of s.tiers) {
        const ok = s.tiers_by === "conversions" ? /^\d{1,7}$/.test(t.threshold) : decimalToCents(t.threshold, currency) !== null;
        if (!ok) {
          ctx.addIssue({
            code: "custom",
            path: ["tiers"],
            message:
              s.tiers_by === "conversions"
                ? `${t.name}: conversions are a whole number ("${t.threshold}")`
                : `${t.name}: lifetime commissions are an amount like 500 or 1250.50 ("${t.threshold}")`,
          });
          return;
        }
      }
    })
    .transform((s) => ({
      commission_rate_bp: s.commission_percent,
      commission_type: s.commission_type,
      flat_amount_cents: s.flat_amount,
      hold_days: s.hold_days,
      recurring_months: s.recurring_months,
      product_rates_bp: s.product_rates,
      mlm_enabled: s.mlm_enabled,
      max_level: s.max_level,
      upper_level_rates_bp: [s.level2_percent, s.level3_percent, s.level4_percent, s.level5_percent],
      level2_months: s.level2_months,
      min_payout_cents: s.min_payout,
      payout_mode: s.payout_mode,
      payout_frequency: s.payout_frequency,
      plan_id: s.plan_id,
      landing_url: s.landing_url,
      points_welcome: s.points_welcome,
      points_first_payment: s.points_first_payment,
      points_recurring: s.points_recurring,
      points_l2: s.points_l2,
      points_recurring_months: s.points_recurring_months,
      points_expiry_days: s.points_expiry_days,
      fraud_mode: s.fraud_mode,
      fraud_hold_score: s.fraud_hold_score,
      fraud_velocity_hour: s.fraud_velocity_hour,
      fraud_velocity_day: s.fraud_velocity_day,
      fraud_min_seconds: s.fraud_min_seconds,
      fraud_weights: Object.fromEntries(CHECK_TYPES.map((c) => [c, (s as Record<string, unknown>)[weightField(c)] as number])),
      streaks_enabled: s.streaks_enabled,
      streak_window_days: s.streak_window_days,
      streak_step_pct: s.streak_step_pct,
      streak_cap_pct: s.streak_cap_pct,
      tiers_enabled: s.tiers_enabled,
      tiers_by: s.tiers_by,
      tiers: s.tiers.map(({ threshold, ...t }) =>
        s.tiers_by === "conversions" ? { ...t, min_conversions: Number(threshold) } : { ...t, min_commissions_cents: decimalToCents(threshold, currency) ?? 0 },
      ),
      drop_chance_pct: s.drop_chance_pct,
      drop_points: s.drop_points,
      // a kind's box left unticked turns it off
      notifications_off: NotificationKind.options.filter((k) => !["on", "true"].includes((s as Record<string, unknown>)[notifyField(k)] as string)),
    }));

export type SettingsFormValues = Record<string, string>;

/**
 * The settings form's values for a program (the inverse of settingsForm). A signal's
 * weight is the program's override, else `defaultWeights` (fraudDefaultWeights()).
 */
export function settingsFormValues(p: Program, defaultWeights: Record<string, number>): SettingsFormValues {
  return {
    commission_percent: basisPointsToPercent(p.commission_rate_bp),
    commission_type: p.commission_type,
    flat_amount: centsToDecimal(p.flat_amount_cents, p.currency),
    hold_days: String(p.hold_days),
    recurring_months: String(p.recurring_months),
    product_rates: Object.entries(p.product_rates_bp)
      .map(([id, bp]) => `${id}=${basisPointsToPercent(bp)}`)
      .join(", "),
    mlm_enabled: p.mlm_enabled ? "on" : "",
    max_level: String(p.max_level),
    level2_percent: basisPointsToPercent(p.upper_level_rates_bp[0]),
    level3_percent: basisPointsToPercent(p.upper_level_rates_bp[1]),
    level4_percent: basisPointsToPercent(p.upper_level_rates_bp[2]),
    level5_percent: basisPointsToPercent(p.upper_level_rates_bp[3]),
    level2_months: String(p.level2_months),
    min_payout: centsToDecimal(p.min_payout_cents, p.currency),
    payout_mode: p.payout_mode,
    payout_frequency: p.payout_frequency,
    plan_id: p.plan_id ?? "",
    landing_url: p.landing_url ?? "",
    points_welcome: String(p.points_welcome),
    points_first_payment: String(p.points_first_payment),
    points_recurring: String(p.points_recurring),
    points_l2: String(p.points_l2),
    points_recurring_months: String(p.points_recurring_months),
    points_expiry_days: p.points_expiry_days === null ? "" : String(p.points_expiry_days),
    fraud_mode: p.fraud_mode,
    fraud_hold_score: String(p.fraud_hold_score),
    fraud_velocity_hour: String(p.fraud_velocity_hour),
    fraud_velocity_day: String(p.fraud_velocity_day),
    fraud_min_seconds: String(p.fraud_min_seconds),
    ...Object.fromEntries(CHECK_TYPES.map((c) => [weightField(c), String(p.fraud_weights[c] ?? defaultWeights[c] ?? 0)])),
    streaks_enabled: p.streaks_enabled ? "on" : "",
    streak_window_days: String(p.streak_window_days),
    streak_step_pct: String(p.streak_step_pct),
    streak_cap_pct: String(p.streak_cap_pct),
    tiers_enabled: p.tiers_enabled ? "on" : "",
    tiers_by: p.tiers_by,
    tiers: p.tiers
      .map((t) => {
        const threshold = p.tiers_by === "conversions" ? String(t.min_conversions ?? 0) : centsToDecimal(t.min_commissions_cents ?? 0, p.currency);
        return `${t.name} ${threshold} ${t.bonus_pct}%${t.plan_id ? ` ${t.plan_id}` : ""}`;
      })
      .join(", "),
    drop_chance_pct: String(p.drop_chance_pct),
    drop_points: String(p.drop_points),
    ...Object.fromEntries(NotificationKind.options.map((k) => [notifyField(k), p.notifications_off.includes(k) ? "" : "on"])),
  };
}

/** Each fraud signal's default weight (SQL fraud_default_weights(), the one place they are set). */
export function fraudDefaultWeights(): Promise<Record<CheckType, number>> {
  return rpc("fraud_default_weights", {}, z.object(Object.fromEntries(CHECK_TYPES.map((c) => [c, z.number().int()])) as Record<CheckType, z.ZodNumber>));
}

/**
 * Validate and save the settings form. Returns the saved program, or the field errors
 * (nothing written): the form's own checks by field, a tier's plan that `checkPlans` says is
 * not the company's (its words, under `tiers`), and a rule the database refuses (e.g. a tiers
 * list out of order, RL400) under `_form` in its words.
 */
export async function saveSettings(
  companyId: string,
  currency: string,
  form: SettingsFormValues,
  checkPlans: (planIds: string[]) => Promise<string | null> = async () => null,
): Promise<{ ok: true; program: Program } | { ok: false; errors: Record<string, string> }> {
  const parsed = settingsForm(currency).safeParse(form);
  if (!parsed.success) {
    const errors: Record<string, string> = {};
    for (const issue of parsed.error.issues) errors[String(issue.path[0])] ??= issue.message;
    return { ok: false, errors };
  }
  // a tier's free plan must be one of the company's (checkPlans asks Whop)
  const planIds = parsed.data.tiers.flatMap((t) => (t.plan_id ? [t.plan_id] : []));
  const badPlan = planIds.length ? await checkPlans(planIds) : null;
  if (badPlan) return { ok: false, errors: { tiers: badPlan } };
  try {
    const program = await rpc("update_program_settings", { p_company_id: companyId, p_settings: parsed.data }, Program);
    return { ok: true, program };
  } catch (e) {
    if (e instanceof DomainError && e.status === 400) return { ok: false, errors: { _form: e.message } };
    throw e;
  }
}

/** The setup checklist's last step: the creator confirmed the commission and hold period. */
export function confirmTerms(companyId: string): Promise<Program> {
  return rpc("confirm_program_terms", { p_company_id: companyId }, Program);
}

/**
 * The setup checklist's plan step: referral links sell this plan (update_program_settings
 * with only plan_id). The caller picks it from the company's plans as Whop lists them, never
 * a typed id. DomainError from SQL for a value it refuses.
 */
export function setProgramPlan(companyId: string, planId: string): Promise<Program> {
  return rpc("update_program_settings", { p_company_id: companyId, p_settings: { plan_id: planId } }, Program);
}

/**
 * The setup checklist's payout step: payouts leave this Whop ledger account
 * (update_program_settings with only ledger_account_id). The caller takes it from Whop for
 * this company (lib/whop/gateway companyLedgerAccount), never from a form.
 */
export function setProgramLedgerAccount(companyId: string, ledgerAccountId: string): Promise<Program> {
  return rpc("update_program_settings", { p_company_id: companyId, p_settings: { ledger_account_id: ledgerAccountId } }, Program);
}
