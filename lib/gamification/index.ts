/**
 * Gamification (seed 000; DESIGN.md "Gamification"). Leaderboards — SQL get_leaderboard,
 * set_leaderboard_anonymous, bump_leaderboards, rebuild_leaderboards (migration
 * …_leaderboards.sql); streaks, tiers and surprise drops — get_member_gamification,
 * gamification_preview, expire_streaks (migration …_streaks_tiers_drops.sql). Boards are weekly (from Monday), monthly and all-time in the
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

const TierJson = z.object({ name: z.string(), min_conversions: z.number().int(), bonus_pct: z.number() });

export const MemberGamification = z.object({
  /** counted conversions, all time (held, rejected and fully refunded ones don't count) */
  conversions: z.number().int(),
  tiers_enabled: z.boolean(),
  /** the member's tier from their best count (never drops); reached_at null before their first */
  tier: TierJson.extend({ reached_at: z.string().nullable() }),
  /** the next tier and how many more counted conversions it needs; null at the top */
  next_tier: TierJson.extend({ needs: z.number().int() }).nullable(),
  streaks_enabled: z.boolean(),
  /** days a streak waits for the next conversion */
  streak_window_days: z.number().int(),
  /** the multiplier's cap (1 + streak_cap_pct / 100) */
  max_multiplier: z.number(),
  /** null before the member's first counted conversion */
  streak: z
    .object({
      active: z.boolean(),
      current_streak: z.number().int(),
      longest_streak: z.number().int(),
      /** ×1.00–×2.00 on the converting payment's level-1 commission, when streaks are on */
      multiplier: z.number(),
      /** what the next conversion would pay with (by the expiry) */
      next_multiplier: z.number(),
      expires_at: z.string().nullable(),
      /** whole local days until the streak ends (0 on its last day); null when over */
      days_left: z.number().int().nullable(),
    })
    .nullable(),
  drop_chance_pct: z.number().int(),
  drop_points: z.number().int(),
  /** the latest 5 credits: surprise drops and milestone points */
  drops: z.array(z.object({ reward_value: z.number().int(), reason: z.enum(["drop", "milestone"]), created_at: z.string() })),
});
export type MemberGamification = z.infer<typeof MemberGamification>;

/**
 * The member Home's tier, streak and recent credits (SQL get_member_gamification, migration
 * …_streaks_tiers_drops.sql); a company seen the first time gets its program with the defaults.
 */
export function getMemberGamification(companyId: string, userId: string): Promise<MemberGamification> {
  return rpc("get_member_gamification", { p_company_id: companyId, p_user_id: userId }, MemberGamification);
}

export const GamificationPreview = z.object({
  /** each tier's level-1 commission on the example payment, in cents */
  tiers: z.array(TierJson.extend({ amount_cents: z.number().int() })),
  /** the n-th conversion of a streak: its multiplier and commission in cents, up to the cap */
  streak: z.array(z.object({ conversion: z.number().int(), multiplier: z.number(), amount_cents: z.number().int() })),
});
export type GamificationPreview = z.infer<typeof GamificationPreview>;

/**
 * What a level-1 commission on a payment of `baseCents` (before tax) would be at each tier and
 * each streak step with the saved settings (SQL gamification_preview, which uses the payment
 * path's level1_amount). DomainError 400 for a negative amount.
 */
export function gamificationPreview(companyId: string, baseCents: number): Promise<GamificationPreview> {
  return rpc("gamification_preview", { p_company_id: companyId, p_base_cents: baseCents }, GamificationPreview);
}

/** Job: streaks past their expiry become inactive (idempotent). Returns how many. */
export function expireStreaks(): Promise<number> {
  return rpc("expire_streaks", {}, z.number().int());
}
