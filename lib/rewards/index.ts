/**
 * Milestone rewards and the grants of every reward won (tables `rewards`,
 * `reward_redemptions`; see docs/architecture.md, "Campaigns and rewards"). SQL: create_reward,
 * update_reward, list_rewards, list_reward_redemptions, get_member_rewards, claim_reward,
 * grant_reward_redemption, settle_reward_redemption, fulfil_reward_redemption,
 * retry_reward_redemption, mark_reward_claimed, due_reward_grants (in
 * supabase/schemas/50_campaigns.sql, which also decides what counts and when a milestone unlocks).
 *
 * A redemption goes pending → granted → claimed | failed. Points and money are granted
 * inside the database; a discount or free access is a Whop promo code made here, after the
 * transaction that unlocked it has committed (the webhook, a claim, the rewards job).
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { DomainError, rpc } from "../db";
import { centsToDecimal, decimalToCents, formatMoney } from "../money";
import { whop, whopErrorMessage } from "../whop/client";

/**
 * What a reward gives, one vocabulary for milestones, challenges, campaign prizes and the
 * points shop: `discount` (a one-use Whop promo code), `product_unlock` (free access to a
 * Whop plan: a one-use 100 %-off code), `points`, `custom` (the creator fulfils it).
 */
export const RewardType = z.enum(["discount", "product_unlock", "points", "custom"]);
export type RewardType = z.infer<typeof RewardType>;
/** A campaign prize may also be money (a commission of kind bonus). */
export const PrizeType = z.enum(["commission", "discount", "product_unlock", "points", "custom"]);
export type PrizeType = z.infer<typeof PrizeType>;
export const RedemptionStatus = z.enum(["pending", "granted", "claimed", "failed"]);

const PlanId = z.string().regex(/^plan_[A-Za-z0-9]{1,40}$/, "A Whop plan id looks like plan_…");

/**
 * reward_data by type, as SQL reward_data_error checks it: discount {percent_off 1–100 |
 * amount_off_cents, plan_ids?}, product_unlock {plan_id}, points {points}, custom {note},
 * commission {amount_cents} (prizes only).
 */
export type RewardData = {
  percent_off?: number;
  amount_off_cents?: number;
  plan_ids?: string[];
  plan_id?: string;
  points?: number;
  note?: string;
  amount_cents?: number;
};

/**
 * The value a creator types for a reward or prize of a type, into reward_data:
 * commission → an amount in the program currency; discount → "50" (percent) or "5.00"
 * with `amountOff`; product_unlock → a plan id; points → whole points; custom → a note.
 * Returns the data or an error message for the form.
 */
export function rewardDataOf(
  type: PrizeType,
  value: string,
  currency: string,
  opts: { amountOff?: boolean; planIds?: string[] } = {},
): { data: RewardData } | { error: string } {
  const v = value.trim();
  switch (type) {
    case "commission": {
      const cents = decimalToCents(v, currency);
      return cents && cents > 0 ? { data: { amount_cents: cents } } : { error: "A money prize is a positive amount, like 50 or 49.99" };
    }
    case "discount": {
      const plans = opts.planIds?.length ? { plan_ids: opts.planIds } : {};
      if (opts.amountOff) {
        const cents = decimalToCents(v, currency);
        return cents && cents > 0 ? { data: { amount_off_cents: cents, ...plans } } : { error: "Amount off is a positive amount, like 10" };
      }
      return /^(100|[1-9]\d?)$/.test(v) ? { data: { percent_off: Number(v), ...plans } } : { error: "Percent off is a whole number from 1 to 100" };
    }
    case "product_unlock":
      return PlanId.safeParse(v).success ? { data: { plan_id: v } } : { error: "Free access needs one of the company's plans" };
    case "points":
      return /^\d{1,8}$/.test(v) && Number(v) >= 1 && Number(v) <= 10_000_000
        ? { data: { points: Number(v) } }
        : { error: "Points are a whole number from 1 to 10 000 000" };
    case "custom":
      return v.length >= 1 && v.length <= 500 ? { data: { note: v } } : { error: "Say what the member gets (up to 500 characters)" };
  }
}

/** What a reward or prize gives, in words ("50% off", "$25.00", "300 points", "free access to plan_…"). */
export function describeReward(type: string, data: RewardData, currency: string): string {
  switch (type) {
    case "commission":
      return `${formatMoney(data.amount_cents ?? 0, currency)} bonus commission`;
    case "discount":
      return data.percent_off != null ? `${data.percent_off}% off` : `${formatMoney(data.amount_off_cents ?? 0, currency)} off`;
    case "product_unlock":
      return "free access";
    case "points":
      return `${data.points} points`;
    default:
      return data.note ?? "a custom reward";
  }
}

/** The creator's "new milestone" form (strings, as a form sends them). */
export const RewardForm = z.object({
  name: z.string().trim().min(1, "Give the milestone a name").max(80, "At most 80 characters"),
  description: z.string().trim().max(1000).optional(),
  threshold: z
    .string()
    .trim()
    .regex(/^\d{1,7}$/, "The threshold is a whole number of referrals")
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1_000_000, "The threshold is from 1 to 1 000 000 referrals"),
  reward_type: RewardType,
  value: z.string().trim(),
  amount_off: z.boolean().default(false),
  /** discount only: the plans it applies to, comma-separated ("plan_a, plan_b"); empty = all plans */
  plan_ids: z
    .string()
    .default("")
    .transform((v) => [...new Set(v.split(",").map((p) => p.trim()).filter(Boolean))])
    .refine((ids) => ids.length <= 20, "At most 20 plans")
    .refine((ids) => ids.every((id) => PlanId.safeParse(id).success), "A Whop plan id looks like plan_…"),
  auto_apply: z.boolean().default(true),
  campaign_id: z.union([z.uuid(), z.literal("")]).default(""),
});
export type RewardForm = z.infer<typeof RewardForm>;

export const Reward = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  threshold: z.number().int(),
  reward_type: RewardType,
  reward_data: z.record(z.string(), z.unknown()),
  auto_apply: z.boolean(),
  is_active: z.boolean(),
  campaign_id: z.uuid().nullable(),
  campaign_name: z.string().nullable().optional(),
  unlocked: z.number().int(),
  created_at: z.string(),
});
export type Reward = z.infer<typeof Reward>;

export const RewardRedemption = z.object({
  id: z.uuid(),
  user_id: z.string(),
  member: z.string(),
  reward_id: z.uuid().nullable(),
  campaign_id: z.uuid().nullable(),
  prize: z.string().nullable(),
  name: z.string(),
  reward_type: PrizeType,
  reward_data: z.record(z.string(), z.unknown()),
  status: RedemptionStatus,
  requested_at: z.string().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  error_message: z.string().nullable(),
  attempts: z.number().int(),
  created_at: z.string(),
  granted_at: z.string().nullable(),
  claimed_at: z.string().nullable(),
});
export type RewardRedemption = z.infer<typeof RewardRedemption>;

/**
 * A new milestone from the creator's form. Throws DomainError 400 with the reason (also
 * for a value that does not fit the type).
 */
export function createReward(companyId: string, form: RewardForm, currency: string): Promise<Reward> {
  const data = rewardDataOf(form.reward_type, form.value, currency, { amountOff: form.amount_off, planIds: form.plan_ids });
  if ("error" in data) throw new DomainError(400, data.error);
  return rpc(
    "create_reward",
    {
      p_company_id: companyId,
      p_reward: {
        name: form.name,
        description: form.description || null,
        threshold: form.threshold,
        reward_type: form.reward_type,
        reward_data: data.data,
        auto_apply: form.auto_apply,
        campaign_id: form.campaign_id || null,
      },
    },
    Reward,
  );
}

/** Edit a milestone: any of create_reward's keys (e.g. {is_active:false}). DomainError 400/404. */
export function updateReward(companyId: string, rewardId: string, patch: Record<string, unknown>): Promise<Reward> {
  return rpc("update_reward", { p_company_id: companyId, p_reward_id: rewardId, p_reward: patch }, Reward);
}

/** The company's milestones (≤ 100), each with how many members unlocked it. */
export function listRewards(companyId: string): Promise<Reward[]> {
  return rpc("list_rewards", { p_company_id: companyId }, z.array(Reward));
}

/** One page (≤ 50, newest first) of the company's redemptions, by status when given. */
export function listRewardRedemptions(companyId: string, filter: { status?: string; after?: string; limit?: number }) {
  return rpc(
    "list_reward_redemptions",
    { p_company_id: companyId, p_filter: filter },
    z.object({ rows: z.array(RewardRedemption), next: z.string().nullable() }),
  );
}

const Milestone = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  threshold: z.number().int(),
  reward_type: RewardType,
  reward_data: z.record(z.string(), z.unknown()),
  campaign_id: z.uuid().nullable(),
  campaign_name: z.string().nullable(),
  /** counted referrals towards it (capped at the threshold) */
  progress: z.number().int(),
  remaining: z.number().int(),
  redemption: RewardRedemption.nullable(),
});

export const MemberCampaign = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  start_date: z.string(),
  end_date: z.string(),
  rules: z.object({ bonus_rate_bp: z.number().int().optional(), bonus_points: z.number().int().optional(), product_ids: z.array(z.string()).optional() }),
  prizes: z.object({
    top: z.array(z.object({ reward_type: PrizeType, reward_data: z.record(z.string(), z.unknown()) })).optional(),
    reach: z.object({ count: z.number().int(), prize: z.object({ reward_type: PrizeType, reward_data: z.record(z.string(), z.unknown()) }) }).nullish(),
  }),
  total_referrals: z.number().int(),
  /** the member's counted conversions in it, and their live place (null before the first) */
  conversions: z.number().int(),
  place: z.number().int().nullable(),
});
export type MemberCampaign = z.infer<typeof MemberCampaign>;

export const MemberRewards = z.object({
  conversions: z.number().int(),
  milestones: z.array(Milestone),
  unlocked: z.array(RewardRedemption),
  campaign: MemberCampaign.nullable(),
});
export type MemberRewards = z.infer<typeof MemberRewards>;

/** The member app's milestones with progress, what they unlocked or won, and the active campaign. */
export function getMemberRewards(companyId: string, userId: string): Promise<MemberRewards> {
  return rpc("get_member_rewards", { p_company_id: companyId, p_user_id: userId }, MemberRewards);
}

/**
 * A member claims a reward that waits for them, then it is granted at once (points in SQL,
 * a promo code through Whop). DomainError 404 (not theirs), 409 (already claimed).
 */
export async function claimReward(companyId: string, userId: string, redemptionId: string): Promise<RewardRedemption> {
  await rpc("claim_reward", { p_company_id: companyId, p_user_id: userId, p_redemption_id: redemptionId }, z.unknown());
  return grantRewardRedemption(companyId, redemptionId);
}

/** The member used a granted reward (or got a custom one): granted → claimed. DomainError 404/409. */
export function markRewardClaimed(companyId: string, userId: string, redemptionId: string): Promise<RewardRedemption> {
  return rpc("mark_reward_claimed", { p_company_id: companyId, p_user_id: userId, p_redemption_id: redemptionId }, RewardRedemption);
}

/** The creator gave a custom reward by hand: pending → granted. DomainError 404/409. */
export function fulfilRewardRedemption(companyId: string, redemptionId: string): Promise<RewardRedemption> {
  return rpc("fulfil_reward_redemption", { p_company_id: companyId, p_redemption_id: redemptionId }, RewardRedemption);
}

/** The creator retries a failed grant, at once (the job also retries). DomainError 404/409. */
export async function retryRewardRedemption(companyId: string, redemptionId: string): Promise<RewardRedemption> {
  await rpc("retry_reward_redemption", { p_company_id: companyId, p_redemption_id: redemptionId }, z.unknown());
  return grantRewardRedemption(companyId, redemptionId);
}

/**
 * The promo code a redemption is granted as: derived from its id, so asking Whop again
 * after a lost answer asks for the same code.
 */
export function promoCodeFor(redemptionId: string): string {
  return `RF${createHash("sha256").update(redemptionId).digest("hex").slice(0, 10).toUpperCase()}`;
}

const Due = z.object({
  id: z.uuid(),
  company_id: z.string(),
  user_id: z.string(),
  reward_type: PrizeType,
  reward_data: z.record(z.string(), z.unknown()),
  attempts: z.number().int(),
  currency: z.string(),
});

/**
 * Grant one requested redemption. points / commission: in SQL (grant_reward_redemption,
 * idempotent). discount / product_unlock: Whop `promoCodes.create` — one use, one per
 * customer, for the member's next month; a discount as percent or amount off (decimal
 * units of the program currency) on its plans; free access as 100 % off its plan — with
 * the code from promoCodeFor and the redemption id as `Idempotency-Key` (sent as a header:
 * the SDK's own idempotencyKey option is dropped because the client configures no
 * idempotency header), then settle_reward_redemption granted {promo_code, promo_code_id},
 * or failed with Whop's message. custom: left for the creator. Returns the redemption.
 */
export async function grantRewardRedemption(companyId: string, redemptionId: string): Promise<RewardRedemption> {
  const [due] = await rpc("due_reward_grants", { p_limit: 1, p_company_id: companyId, p_id: redemptionId }, z.array(Due));
  if (due) await grantDue(due);
  return rpc("get_reward_redemption", { p_company_id: companyId, p_redemption_id: redemptionId }, RewardRedemption);
}

/** Grant one due redemption as due_reward_grants gives it; returns whether it is granted now. */
async function grantDue(due: z.infer<typeof Due>): Promise<boolean> {
  if (due.reward_type === "discount" || due.reward_type === "product_unlock") return grantThroughWhop(due);
  const r = await rpc("grant_reward_redemption", { p_company_id: due.company_id, p_redemption_id: due.id }, z.object({ status: RedemptionStatus }));
  return r.status === "granted";
}

async function grantThroughWhop(due: z.infer<typeof Due>): Promise<boolean> {
  const data = due.reward_data as RewardData;
  const code = promoCodeFor(due.id);
  const percent = due.reward_type === "product_unlock" ? 100 : data.percent_off;
  const planIds = due.reward_type === "product_unlock" ? [data.plan_id!] : (data.plan_ids ?? null);
  let settled: { status: "granted" | "failed"; result: Record<string, string> | null; error: string | null };
  try {
    const promo = await whop().promoCodes.create(
      {
        code,
        company_id: due.company_id,
        promo_type: percent != null ? "percentage" : "flat_amount",
        amount_off: percent ?? Number(centsToDecimal(data.amount_off_cents ?? 0, due.currency)),
        base_currency: due.currency.toLowerCase() as "usd",
        new_users_only: false,
        promo_duration_months: 1,
        one_per_customer: true,
        stock: 1,
        plan_ids: planIds,
      },
      { headers: { "Idempotency-Key": due.id } },
    );
    settled = { status: "granted", result: { promo_code: promo.code ?? code, promo_code_id: promo.id }, error: null };
  } catch (err) {
    settled = { status: "failed", result: null, error: whopErrorMessage(err) };
  }
  try {
    await rpc(
      "settle_reward_redemption",
      { p_company_id: due.company_id, p_redemption_id: due.id, p_status: settled.status, p_result: settled.result, p_error: settled.error },
      z.unknown(),
    );
  } catch (err) {
    // withdrawn meanwhile (its referral refunded in full) or settled by a concurrent run
    if (!(err instanceof DomainError && (err.status === 404 || err.status === 409))) throw err;
  }
  return settled.status === "granted";
}

/**
 * Grant what is due (the `rewards` job, and right after a webhook commits for its company;
 * both through lib/webhooks/after-commit drainAfterCommit):
 * requested redemptions not yet granted — failed ones again after a backoff, at most 5
 * tries (due_reward_grants). One failure never stops the rest. Returns {granted, failed}.
 */
export async function grantDueRewards(companyId?: string): Promise<{ granted: number; failed: number }> {
  const due = await rpc("due_reward_grants", { p_limit: 50, p_company_id: companyId ?? null, p_id: null }, z.array(Due));
  let granted = 0;
  let failed = 0;
  for (const d of due) {
    try {
      if (await grantDue(d)) granted++;
      else failed++;
    } catch (err) {
      failed++;
      console.error(`reward grant ${d.id}:`, (err as Error).message);
    }
  }
  return { granted, failed };
}
