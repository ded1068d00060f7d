/**
 * Commissions and earnings (SQL: get_user_referral_earnings; commissions are written by
 * apply_payment_succeeded). Statuses: pending (hold) → available → paid; on_hold,
 * reversed, cancelled (DESIGN.md "Canonical statuses"). Amounts are integer cents.
 */
import { z } from "zod";
import { rpc } from "../db";
import { Earnings } from "../referrals";

export const CommissionStatus = z.enum(["pending", "available", "paid", "on_hold", "reversed", "cancelled"]);

/**
 * A member's earnings per currency (seed 004): total = pending + available + paid,
 * pending_earnings = pending + available, paid_earnings = paid; integer cents.
 */
export function getUserReferralEarnings(companyId: string, userId: string): Promise<Earnings[]> {
  return rpc("get_user_referral_earnings", { p_company_id: companyId, p_user_id: userId }, z.array(Earnings));
}
