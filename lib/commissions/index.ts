/**
 * Commissions, their creator decisions and the member's wallet (SQL: list_commissions,
 * decide_commission, release_commissions, get_member_wallet; commissions are written by
 * apply_payment_succeeded and apply_refund). Statuses: pending (hold) → available → paid; on_hold,
 * reversed, cancelled (see docs/architecture.md, "Canonical statuses"). Amounts are integer cents.
 */
import { z } from "zod";
import { rpc } from "../db";
import { Page, pageParams } from "../lists";
import { basisPointsToPercent } from "../money";

export const CommissionStatus = z.enum(["pending", "available", "paid", "on_hold", "reversed", "cancelled"]);

/** commission: earned on a payment; clawback: a refund after payout; bonus: a campaign prize paid as money */
export const CommissionKind = z.enum(["commission", "clawback", "bonus"]);

export const CommissionRow = z.object({
  id: z.uuid(),
  beneficiary: z.string(),
  beneficiary_user_id: z.string(),
  /** null on a campaign prize paid as money (kind bonus) */
  payment_id: z.string().nullable(),
  level: z.number().int(),
  kind: CommissionKind,
  base_amount_cents: z.number().int(),
  rate_bp: z.number().int(),
  amount_cents: z.number().int(),
  reversed_cents: z.number().int(),
  currency: z.string(),
  status: CommissionStatus,
  reason: z.string().nullable(),
  /** the campaign's part of rate_bp (basis points), 0 without one */
  campaign_bonus_bp: z.number().int(),
  campaign_id: z.uuid().nullable(),
  /** the member's tier bonus, part of rate_bp (basis points), 0 without one */
  tier_bonus_bp: z.number().int(),
  /** the streak's multiplier on the amount (1 without one) */
  streak_multiplier: z.number(),
  available_at: z.string(),
  created_at: z.string(),
  paid_at: z.string().nullable(),
});
export type CommissionRow = z.infer<typeof CommissionRow>;

/**
 * The commissions list's query (all optional): status, level, kind, member (user id or
 * username), from / to (YYYY-MM-DD, the program's time zone), sort created | amount.
 */
export const CommissionQuery = pageParams(["created", "amount"] as const).extend({
  status: CommissionStatus.optional(),
  level: z.coerce.number().int().min(1).max(5).optional(),
  kind: CommissionKind.optional(),
  member: z.string().trim().min(1).max(64).optional(),
  from: z.iso.date().optional(),
  to: z.iso.date().optional(),
});
export type CommissionQuery = z.infer<typeof CommissionQuery>;

/** One page (≤ 50) of a company's commissions, newest first by default. */
export function listCommissions(companyId: string, query: CommissionQuery, limit?: number): Promise<Page<CommissionRow>> {
  return rpc("list_commissions", { p_company_id: companyId, p_filter: { ...query, limit } }, Page(CommissionRow));
}

/**
 * Creator approves (on_hold → pending/available, pending → available) or cancels
 * (on_hold/pending/available → cancelled) a commission, with a reason in the ledger.
 * Throws DomainError 400 (no reason), 404, 409 (not allowed from its status).
 */
export function decideCommission(companyId: string, commissionId: string, decision: "approve" | "cancel", reason: string) {
  return rpc(
    "decide_commission",
    { p_company_id: companyId, p_commission_id: commissionId, p_decision: decision, p_reason: reason },
    z.object({ id: z.uuid(), status: CommissionStatus }),
  );
}

/** Job: pending → available after the hold period. Returns how many were released. */
export function releaseCommissions(): Promise<number> {
  return rpc("release_commissions", {}, z.number().int());
}

export const MemberWallet = z.object({
  currency: z.string(),
  balances: z.object({
    pending: z.number().int(),
    available: z.number().int(),
    paid: z.number().int(),
    on_hold: z.number().int(),
    reversed: z.number().int(),
  }),
  upcoming: z.array(z.object({ amount_cents: z.number().int(), available_at: z.string() })),
  payout: z.object({
    can_request: z.boolean(),
    reason: z.string().nullable(),
    available_cents: z.number().int(),
    min_payout_cents: z.number().int(),
  }),
  payouts: z.array(
    z.object({
      id: z.uuid(),
      amount_cents: z.number().int(),
      currency: z.string(),
      status: z.string(),
      requested_at: z.string(),
      completed_at: z.string().nullable(),
      error: z.string().nullable(),
    }),
  ),
  points: z.object({
    balance: z.number().int(),
    history: z.array(z.object({ points: z.number().int(), type: z.string().nullable(), memo: z.string().nullable(), created_at: z.string() })),
  }),
  items: z.array(z.object({ id: z.uuid(), name: z.string(), cost_points: z.number().int(), grant_type: z.string() })),
  redemptions: z.array(
    z.object({
      id: z.uuid(),
      item: z.string(),
      cost_points: z.number().int(),
      status: z.string(),
      result: z.unknown(),
      error: z.string().nullable(),
      created_at: z.string(),
    }),
  ),
});
export type MemberWallet = z.infer<typeof MemberWallet>;

/** The member's balances (pending with dates, available, paid, reversed), payouts and points. */
export function getMemberWallet(companyId: string, userId: string): Promise<MemberWallet> {
  return rpc("get_member_wallet", { p_company_id: companyId, p_user_id: userId }, MemberWallet);
}

/**
 * How a commission row's rate reads in a table: "25%", "25% (+5% campaign, +2% tier) ×1.20
 * streak" with the parts of the rate a campaign (campaign_bonus_bp) or tier (tier_bonus_bp)
 * added and the streak's multiplier, "flat" or "flat + 5% campaign" for a flat amount (the
 * rate is then only the bonuses), "prize" for a campaign prize paid as money (kind bonus).
 */
export function rateLabel(
  c: Pick<CommissionRow, "kind" | "rate_bp" | "campaign_bonus_bp"> & Partial<Pick<CommissionRow, "tier_bonus_bp" | "streak_multiplier">>,
): string {
  if (c.kind === "bonus") return "prize";
  const bonuses = [
    c.campaign_bonus_bp ? `${basisPointsToPercent(c.campaign_bonus_bp)}% campaign` : null,
    c.tier_bonus_bp ? `${basisPointsToPercent(c.tier_bonus_bp)}% tier` : null,
  ].filter(Boolean);
  const streak = c.streak_multiplier && c.streak_multiplier !== 1 ? ` ×${c.streak_multiplier.toFixed(2)} streak` : "";
  // a flat commission's rate is only its bonuses (its base part is 0)
  if (c.rate_bp === c.campaign_bonus_bp + (c.tier_bonus_bp ?? 0)) return (bonuses.length ? `flat + ${bonuses.join(" + ")}` : "flat") + streak;
  const rate = `${basisPointsToPercent(c.rate_bp)}%`;
  return (bonuses.length ? `${rate} (+${bonuses.join(", +")})` : rate) + streak;
}
