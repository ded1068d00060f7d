/**
 * The creator dashboard's numbers (SQL: get_creator_view): counted clicks, signups,
 * conversions; per currency the revenue attributed, commissions owed (pending +
 * available + on_hold) and paid, in cents; the latest referrals and commissions.
 */
import { z } from "zod";
import { rpc } from "../db";
import { CommissionStatus } from "../commissions";
import { Program } from "../programs";
import { ReferralStatus } from "../referrals";

export const CreatorView = z.object({
  program: Program,
  totals: z.object({ clicks: z.number().int(), signups: z.number().int(), conversions: z.number().int() }),
  money: z.array(
    z.object({
      currency: z.string(),
      revenue_cents: z.number().int(),
      commissions_owed_cents: z.number().int(),
      commissions_paid_cents: z.number().int(),
    }),
  ),
  referrals: z.array(
    z.object({
      id: z.uuid(),
      referrer: z.string(),
      referee: z.string(),
      status: ReferralStatus,
      source: z.enum(["link", "claim"]),
      created_at: z.string(),
      converted_at: z.string().nullable(),
    }),
  ),
  commissions: z.array(
    z.object({
      id: z.uuid(),
      beneficiary: z.string(),
      payment_id: z.string(),
      level: z.number().int(),
      base_amount_cents: z.number().int(),
      rate_bp: z.number().int(),
      amount_cents: z.number().int(),
      reversed_cents: z.number().int(),
      kind: z.enum(["commission", "clawback"]),
      currency: z.string(),
      status: CommissionStatus,
      available_at: z.string(),
      created_at: z.string(),
    }),
  ),
});
export type CreatorView = z.infer<typeof CreatorView>;

export function getCreatorView(companyId: string): Promise<CreatorView> {
  return rpc("get_creator_view", { p_company_id: companyId }, CreatorView);
}
