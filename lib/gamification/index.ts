/**
 * Gamification (see docs/architecture.md, "Gamification"). Leaderboards — SQL get_leaderboard,
 * set_leaderboard_anonymous, bump_leaderboards, rebuild_leaderboards (all in
 * supabase/schemas/60_gamification.sql); streaks, tiers and surprise drops — get_member_gamification,
 * gamification_preview, expire_streaks (60_gamification.sql); snapshots —
 * snapshot_leaderboards, get_leaderboard_snapshot (60_gamification.sql); challenges —
 * create_challenge, stop_challenge, list_challenges (60_gamification.sql). Boards are weekly
 * (from Monday), monthly and all-time in the program's time zone, ranked by counted
 * conversions — held or rejected referrals and conversions refunded in full never count —
 * ties to who reached the count first.
 */
import { z } from "zod";
import { DomainError, rpc } from "../db";
import { RewardType, rewardDataOf } from "../rewards";

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


/**
 * A tier (programs.tiers): reached at min_conversions counted conversions or at
 * min_commissions_cents of lifetime commissions (as the program's tiers_by says); bonus_pct
 * percentage points on the level-1 rate; plan_id: a Whop plan given free once, on reaching it.
 */
const TierJson = z.object({
  name: z.string(),
  min_conversions: z.number().int().optional(),
  min_commissions_cents: z.number().int().optional(),
  bonus_pct: z.number(),
  plan_id: z.string().optional(),
});

export const MemberGamification = z.object({
  /** counted conversions, all time (held, rejected and fully refunded ones don't count) */
  conversions: z.number().int(),
  tiers_enabled: z.boolean(),
  /** what tiers count: counted conversions, or lifetime commissions (program currency) */
  tiers_by: z.enum(["conversions", "commissions"]),
  /** the program currency (lifetime commissions are in it) */
  currency: z.string(),
  /** the member's tier from their best count (never drops); reached_at null before their first */
  tier: TierJson.extend({ reached_at: z.string().nullable() }),
  /** the next tier and how much more it needs (conversions, or commission cents); null at the top */
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
  /** the latest 5 credits: surprise drops, milestone and challenge points */
  drops: z.array(z.object({ reward_value: z.number().int(), reason: z.enum(["drop", "milestone", "challenge"]), created_at: z.string() })),
  /** running challenges and those ended in the last 7 days, with the member's progress (≤ 10) */
  challenges: z.array(
    z.object({
      id: z.uuid(),
      challenge_name: z.string(),
      target_referrals: z.number().int(),
      achieved_referrals: z.number().int(),
      status: z.enum(["active", "completed", "expired"]),
      ends_at: z.string(),
      reward_type: RewardType,
      reward_data: z.record(z.string(), z.unknown()),
    }),
  ),
  /** the member muted Referly's notifications */
  notifications_muted: z.boolean(),
});
export type MemberGamification = z.infer<typeof MemberGamification>;

/**
 * The member Home's tier, streak and recent credits (SQL get_member_gamification, migration
 * 60_gamification.sql); a company seen the first time gets its program with the defaults.
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

/** Job: freeze finished weeks and months into referral_leaderboard (idempotent). Returns {periods, members}. */
export function snapshotLeaderboards(): Promise<{ periods: number; members: number }> {
  return rpc("snapshot_leaderboards", {}, z.object({ periods: z.number().int(), members: z.number().int() }));
}

export const LeaderboardSnapshot = z.object({
  period: z.enum(["week", "month"]),
  period_start: z.string(),
  period_end: z.string(),
  taken_at: z.string(),
  /** a page of ≤ 50 by rank, every name (the creator's view) */
  rows: z.array(
    z.object({ rank: z.number().int(), user_id: z.string(), name: z.string(), conversions: z.number().int(), commissions_cents: z.number().int() }),
  ),
  /** the rank to pass as `afterRank` for the next page, or null */
  next_rank: z.number().int().nullable(),
  /** the frozen periods there are, newest first (24) */
  periods: z.array(z.object({ period_start: z.string(), members: z.number().int() })),
});
export type LeaderboardSnapshot = z.infer<typeof LeaderboardSnapshot>;

/**
 * A frozen week or month (the latest when `start` is null) for the creator. DomainError 400
 * for another period, 404 when it has no snapshot yet.
 */
export function getLeaderboardSnapshot(companyId: string, period: "week" | "month", start: string | null, afterRank = 0): Promise<LeaderboardSnapshot> {
  return rpc("get_leaderboard_snapshot", { p_company_id: companyId, p_period: period, p_start: start, p_after_rank: afterRank }, LeaderboardSnapshot);
}

// ── Challenges (supabase/schemas/60_gamification.sql: referral_challenges) ──


export const Challenge = z.object({
  id: z.uuid(),
  challenge_name: z.string(),
  target_referrals: z.number().int(),
  period: z.enum(["week", "month", "dates"]),
  starts_at: z.string(),
  ends_at: z.string(),
  reward_type: RewardType,
  reward_data: z.record(z.string(), z.unknown()),
  is_active: z.boolean(),
  /** members with a counted conversion in it, and those who reached the target */
  participants: z.number().int(),
  completed: z.number().int(),
  status: z.enum(["scheduled", "running", "ended", "stopped"]),
});
export type Challenge = z.infer<typeof Challenge>;

/**
 * The creator defines a challenge: {challenge_name, target_referrals, period: week | month
 * (now to the end of this local week or month) | dates (starts_at, ends_at), reward_type,
 * reward_data (as a milestone's: lib/rewards rewardDataOf)}. DomainError 400 with the reason.
 */
export function createChallenge(companyId: string, challenge: Record<string, unknown>): Promise<Challenge> {
  return rpc("create_challenge", { p_company_id: companyId, p_challenge: challenge }, Challenge);
}

/** Stop a challenge (no more progress; completed rewards stay). DomainError 404 for another company's. */
export function stopChallenge(companyId: string, challengeId: string): Promise<Challenge> {
  return rpc("stop_challenge", { p_company_id: companyId, p_challenge_id: challengeId }, Challenge);
}

/** A company's challenges, newest first, a page of ≤ 50 (`after`: the last row's cursor). */
export function listChallenges(companyId: string, after: string | null = null) {
  return rpc(
    "list_challenges",
    { p_company_id: companyId, p_after: after },
    z.object({ rows: z.array(Challenge), next: z.string().nullable() }),
  );
}

/** The challenge form (strings, as a form sends them), checked; the reward value as lib/rewards rewardDataOf reads it. */
export const ChallengeForm = z.object({
  challenge_name: z.string().trim().min(1, "Give the challenge a name").max(80, "At most 80 characters"),
  target_referrals: z
    .string()
    .trim()
    .regex(/^\d{1,6}$/, "The target is a whole number of conversions")
    .transform(Number)
    .refine((n) => n >= 1 && n <= 100_000, "The target is from 1 to 100 000 conversions"),
  period: z.enum(["week", "month", "dates"], { message: "Pick this week, this month or dates" }),
  starts_at: z.string().trim().max(40),
  ends_at: z.string().trim().max(40),
  reward_type: RewardType,
  value: z.string().trim().max(500),
  amount_off: z.boolean().default(false),
});
export type ChallengeForm = z.infer<typeof ChallengeForm>;

/**
 * Create a challenge from the checked form: the reward's data from its typed value
 * (rewardDataOf), dates only for period "dates". DomainError 400 for a bad value (nothing
 * written).
 */
export async function createChallengeFromForm(companyId: string, f: ChallengeForm, currency: string): Promise<Challenge> {
  const reward = rewardDataOf(f.reward_type, f.value, currency, { amountOff: f.amount_off });
  if ("error" in reward) throw new DomainError(400, reward.error);
  return createChallenge(companyId, {
    challenge_name: f.challenge_name,
    target_referrals: f.target_referrals,
    period: f.period,
    ...(f.period === "dates" ? { starts_at: f.starts_at, ends_at: f.ends_at } : {}),
    reward_type: f.reward_type,
    reward_data: reward.data,
  });
}
