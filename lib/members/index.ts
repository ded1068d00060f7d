/**
 * Members of a program for the creator (SQL: list_members, get_member_detail,
 * set_code_active, set_referral_code): everyone with a referral code or a referral, with
 * their counters (referral_stats) and balances in the program currency (member_money),
 * kept in the write transactions — never counted on a page load.
 */
import { z } from "zod";
import { rpc } from "../db";
import { Page, pageParams } from "../lists";
import { ReferralStatus } from "../referrals";

export const MemberRow = z.object({
  user_id: z.string(),
  username: z.string(),
  code: z.string().nullable(),
  code_active: z.boolean().nullable(),
  clicks: z.number().int(),
  signups: z.number().int(),
  conversions: z.number().int(),
  active_referrals: z.number().int(),
  /** gross cents of attributed payments, program currency */
  revenue_cents: z.number().int(),
  /** pending + available + paid commissions, net of reversals (the member's total earned) */
  earned_cents: z.number().int(),
  paid_cents: z.number().int(),
  /** available and not in a payout */
  available_cents: z.number().int(),
  pending_cents: z.number().int(),
  on_hold_cents: z.number().int(),
  points: z.number().int(),
  joined_at: z.string().nullable(),
});
export type MemberRow = z.infer<typeof MemberRow>;

export const MEMBER_SORTS = ["conversions", "clicks", "signups", "active_referrals", "revenue", "earned", "paid", "available"] as const;

/** The members list's query: q = username prefix or exact code. */
export const MemberQuery = pageParams(MEMBER_SORTS).extend({ q: z.string().trim().min(1).max(64).optional() });
export type MemberQuery = z.infer<typeof MemberQuery>;

/** One page (≤ 50) of members, sorted by `sort` (default conversions, descending). */
export function listMembers(companyId: string, query: MemberQuery, limit?: number): Promise<Page<MemberRow>> {
  return rpc("list_members", { p_company_id: companyId, p_filter: { ...query, limit } }, Page(MemberRow));
}

export const MemberDetail = z.object({
  member: MemberRow,
  referred_by: z.object({ user_id: z.string(), username: z.string() }).nullable(),
  referrals: z.array(
    z.object({
      id: z.uuid(),
      referee: z.string(),
      status: ReferralStatus,
      active: z.boolean(),
      source: z.enum(["link", "claim"]),
      created_at: z.string(),
      converted_at: z.string().nullable(),
    }),
  ),
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
  points: z.array(z.object({ points: z.number().int(), type: z.string().nullable(), memo: z.string().nullable(), created_at: z.string() })),
  /** their converted referrals per plan bought, most first (referral_plan_stats, kept by the conversions) */
  plans: z.array(z.object({ plan_id: z.string(), conversions: z.number().int(), active_referrals: z.number().int() })),
});
export type MemberDetail = z.infer<typeof MemberDetail>;

/** One member's page data, or null when `userId` is not a member of this company. */
export function getMemberDetail(companyId: string, userId: string): Promise<MemberDetail | null> {
  return rpc("get_member_detail", { p_company_id: companyId, p_user_id: userId }, MemberDetail.nullable());
}

/**
 * Switch a member's code off (its link shows the friendly page, records no click and
 * attributes nothing) or on. Throws DomainError 404 when the member has no code.
 */
export function setCodeActive(companyId: string, userId: string, active: boolean) {
  return rpc(
    "set_code_active",
    { p_company_id: companyId, p_user_id: userId, p_active: active },
    z.object({ code: z.string(), is_active: z.boolean() }),
  );
}

/** The fraud allow-list (Settings): trusted members by username, first 200 (SQL list_trusted_members). */
export function listTrustedMembers(companyId: string) {
  return rpc(
    "list_trusted_members",
    { p_company_id: companyId },
    z.array(z.object({ user_id: z.string(), username: z.string(), trusted_at: z.string(), trusted_by: z.string().nullable() })),
  );
}
