/**
 * Referrals: "who invited you?" claims and the member view
 * (SQL: claim_referral, get_member_view). Statuses: pending → converted | expired,
 * any → cancelled (see docs/architecture.md, "Canonical statuses").
 */
import { z } from "zod";
import { rpc } from "../db";
import { Page, pageParams } from "../lists";

/**
 * A Whop display field (username, name) as Referly caches it: NULs dropped (Postgres can't
 * store them) and at most 200 characters (users' key carries both, and an index entry has a
 * size limit); never refused, since it is only shown. null and undefined pass through.
 */
export function displayField<T extends string | null | undefined>(v: T): T {
  return (v == null ? v : v.replaceAll("\u0000", "").slice(0, 200)) as T;
}

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
  code_active: z.boolean(),
  funnel: z.object({
    clicks: z.number().int(),
    signups: z.number().int(),
    conversions: z.number().int(),
    active_referrals: z.number().int(),
  }),
  earnings: z.array(Earnings),
  /** commissions earned this local month, net, program currency cents */
  this_month_cents: z.number().int(),
  /** the last 30 local days */
  series: z.array(z.object({ bucket: z.string(), clicks: z.number().int(), conversions: z.number().int(), commissions_cents: z.number().int() })),
  /** the latest 50 */
  referrals: z.array(
    z.object({
      referee: z.string(),
      status: ReferralStatus,
      active: z.boolean(),
      source: z.enum(["link", "claim"]),
      created_at: z.string(),
      converted_at: z.string().nullable(),
    }),
  ),
  referred_by: z.object({ user_id: z.string(), username: z.string() }).nullable(),
  program: z.object({ currency: z.string(), min_payout_cents: z.number().int(), timezone: z.string() }),
});
export type MemberView = z.infer<typeof MemberView>;

/** Everything the member's Home shows, from counters (bounded); makes their code on first visit. */
export function getMemberView(
  companyId: string,
  user: { id: string; username: string | null; name: string | null },
): Promise<MemberView> {
  return rpc(
    "get_member_view",
    { p_company_id: companyId, p_user_id: user.id, p_username: displayField(user.username), p_name: displayField(user.name) },
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
    { p_company_id: companyId, p_user_id: userId, p_code: code, p_username: displayField(username) },
    z.object({ id: z.uuid(), referrer_user_id: z.string(), status: ReferralStatus }),
  );
}

export const ReferralRow = z.object({
  id: z.uuid(),
  referrer: z.string(),
  referrer_user_id: z.string(),
  referee: z.string(),
  referee_user_id: z.string(),
  status: ReferralStatus,
  /** converted and the referee's membership not deactivated */
  active: z.boolean(),
  source: z.enum(["link", "claim"]),
  created_at: z.string(),
  converted_at: z.string().nullable(),
  signed_up_at: z.string().nullable(),
});
export type ReferralRow = z.infer<typeof ReferralRow>;

/** The referrals list's query: status, member (referrer's user id or username), sort created | converted. */
export const ReferralQuery = pageParams(["created", "converted"] as const).extend({
  status: ReferralStatus.optional(),
  member: z.string().trim().min(1).max(64).optional(),
});
export type ReferralQuery = z.infer<typeof ReferralQuery>;

/** One page (≤ 50) of the company's referrals, newest first by default. */
export function listReferrals(companyId: string, query: ReferralQuery, limit?: number): Promise<Page<ReferralRow>> {
  return rpc("list_referrals", { p_company_id: companyId, p_filter: { ...query, limit } }, Page(ReferralRow));
}
