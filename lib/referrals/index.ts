/**
 * Referrals: "who invited you?" claims and the member view
 * (SQL: claim_referral, get_member_view). Statuses: pending → converted | expired,
 * any → cancelled (DESIGN.md "Canonical statuses").
 */
import { z } from "zod";
import { rpc } from "../db";

export const ReferralStatus = z.enum(["pending", "converted", "expired", "cancelled"]);

export const Earnings = z.object({
  currency: z.string(),
  total_earnings: z.number().int(),
  pending_earnings: z.number().int(),
  paid_earnings: z.number().int(),
});
export type Earnings = z.infer<typeof Earnings>;

export const MemberView = z.object({
  code: z.string(),
  funnel: z.object({ clicks: z.number().int(), signups: z.number().int(), conversions: z.number().int() }),
  earnings: z.array(Earnings),
  referrals: z.array(
    z.object({
      referee: z.string(),
      status: ReferralStatus,
      source: z.enum(["link", "claim"]),
      created_at: z.string(),
      converted_at: z.string().nullable(),
    }),
  ),
  referred_by: z.object({ user_id: z.string(), username: z.string() }).nullable(),
  program: z.object({ currency: z.string(), min_payout_cents: z.number().int() }),
});
export type MemberView = z.infer<typeof MemberView>;

/** Everything the member sees; makes their code on first visit. */
export function getMemberView(
  companyId: string,
  user: { id: string; username: string | null; name: string | null },
): Promise<MemberView> {
  return rpc(
    "get_member_view",
    { p_company_id: companyId, p_user_id: user.id, p_username: user.username, p_name: user.name },
    MemberView,
  );
}

export const ClaimInput = z.object({
  code: z.string().trim().min(3, "Enter the code of the member who invited you").max(32, "Codes are at most 32 characters"),
});

/**
 * Record that `code`'s owner invited this member. Throws DomainError: 404 unknown code,
 * 400 own code or a loop, 409 already has a referrer.
 */
export async function claimReferral(companyId: string, userId: string, username: string | null, code: string) {
  return rpc(
    "claim_referral",
    { p_company_id: companyId, p_user_id: userId, p_code: code, p_username: username },
    z.object({ id: z.uuid(), referrer_user_id: z.string(), status: ReferralStatus }),
  );
}
