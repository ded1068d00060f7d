/**
 * Scheduled jobs behind /api/cron/<job> (see docs/architecture.md, "Flows": jobs), each idempotent and safe to
 * run twice. Returns what the job did.
 */
import { z } from "zod";
import { rpc } from "../db";
import { repairAnalytics } from "../analytics";
import { releaseCommissions } from "../commissions";
import { runPayoutBatch } from "../payouts";
import { expirePoints } from "../points";
import { advanceCampaigns } from "../campaigns";
import { expireStreaks, snapshotLeaderboards } from "../gamification";
import { drainAfterCommit, type DrainSteps } from "../webhooks/after-commit";

/**
 * The after-commit drain for every company, as the retry of what requests left queued: a
 * failure throws (the cron route answers 500) instead of being logged and swallowed, so
 * every step asked for is in the result.
 */
const drainAll = (steps: Omit<DrainSteps, "failures">) => drainAfterCommit(undefined, { ...steps, failures: "throw" });

export const JOBS = {
  /** pending → available after the hold period */
  release: async () => ({ released: await releaseCommissions() }),
  /** automatic payouts by frequency, and resending unanswered ones */
  payouts: async () => runPayoutBatch(),
  /** points older than points_expiry_days */
  "points-expiry": async () => ({ expired: await expirePoints() }),
  /** pending referrals past the attribution window */
  "referrals-expiry": async () => ({ expired: await rpc("expire_referrals", {}, z.number().int()) }),
  /** recompute every company's rollups from the source rows; rebuild those that drifted */
  "analytics-repair": async () => {
    const r = await repairAnalytics();
    return { checked: r.checked, repaired: r.repaired.length };
  },
  /** campaign statuses follow their dates; ended campaigns awarded once, their prizes granted */
  campaigns: async () => advanceCampaigns(),
  /** reward grants left pending or failed (Whop promo codes), with backoff */
  rewards: async () => (await drainAll({ rewards: true })).rewards!,
  /** streaks whose window passed with no conversion become inactive */
  streaks: async () => ({ expired: await expireStreaks() }),
  /** finished weeks and months frozen into referral_leaderboard (rank and totals), once */
  leaderboards: async () => snapshotLeaderboards(),
  /** notifications not yet accepted by Whop, with backoff */
  notifications: async () => (await drainAll({ notifications: 500 })).notifications!,
} satisfies Record<string, () => Promise<Record<string, number>>>;

export type JobName = keyof typeof JOBS;
export const isJob = (name: string): name is JobName => Object.hasOwn(JOBS, name);
