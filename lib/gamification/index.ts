/**
 * Gamification (seed 000; DESIGN.md "Gamification"), first slice: the leaderboards. SQL:
 * get_leaderboard, set_leaderboard_anonymous, bump_leaderboards, rebuild_leaderboards
 * (migration …_leaderboards.sql). Boards are weekly (from Monday), monthly and all-time in the
 * program's time zone, ranked by counted conversions — held or rejected referrals and
 * conversions refunded in full never count — ties to who reached the count first.
 */
import { z } from "zod";
import { rpc } from "../db";

export const BoardPeriod = z.enum(["week", "month", "all"]);
export type BoardPeriod = z.infer<typeof BoardPeriod>;

const Place = z.object({ rank: z.number().int(), conversions: z.number().int() });

export const Leaderboard = z.object({
  period: BoardPeriod,
  /** the period's first local day (YYYY-MM-DD; 1970-01-01 for all-time) */
  period_start: z.string(),
  /** the viewer chose to show as "Anonymous" to other members */
  anonymous: z.boolean(),
  /** the top 10; another member who chose anonymity is "Anonymous" (not to the creator) */
  top: z.array(Place.extend({ name: z.string(), you: z.boolean() })),
  /** the viewer's rank on this board, null before their first counted referral in it */
  you: Place.nullable(),
  /** the viewer on the previous week or month (null for all-time or without a referral then) */
  previous: Place.nullable(),
});
export type Leaderboard = z.infer<typeof Leaderboard>;

/**
 * A board as `viewerId` sees it; `creator` shows every name. DomainError 400 for an unknown
 * period.
 */
export function getLeaderboard(companyId: string, viewerId: string, period: BoardPeriod, creator = false): Promise<Leaderboard> {
  return rpc("get_leaderboard", { p_company_id: companyId, p_viewer: viewerId, p_period: period, p_creator: creator }, Leaderboard);
}

/** The member shows as "Anonymous" to other members (or not). DomainError 404 for an unknown member. */
export function setLeaderboardAnonymous(companyId: string, userId: string, anonymous: boolean): Promise<boolean> {
  return rpc("set_leaderboard_anonymous", { p_company_id: companyId, p_user_id: userId, p_anonymous: anonymous }, z.boolean());
}
