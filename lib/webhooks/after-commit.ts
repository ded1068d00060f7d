/**
 * The after-commit drain: the work a committed transaction leaves outside the database,
 * done in one place and in one order — first the reward grants that are due (lib/rewards
 * grantDueRewards: promo codes and the like through Whop), then the notifications that are
 * due (lib/notifications sendDueNotifications). Both are queues in SQL, so whatever is not
 * done here stays queued for its job (`rewards`, `notifications`) to retry with backoff.
 *
 * Callers: an inbound payment webhook (lib/webhooks: rewards, then up to 20 notifications
 * for its company), a payout that completed (lib/payouts: its "payout sent" notification),
 * and the scheduled jobs (lib/jobs: every company, `failures: "throw"`).
 *
 * Imports only lib/rewards and lib/notifications (neither imports lib/payouts or
 * lib/webhooks), so lib/payouts can use it without an import cycle.
 */
import { sendDueNotifications } from "../notifications";
import { grantDueRewards } from "../rewards";

export interface DrainSteps {
  /** grant the due rewards (grantDueRewards) */
  rewards?: boolean;
  /** send at most this many due notifications (sendDueNotifications); omitted or 0: none */
  notifications?: number;
  /**
   * "log" (the default, after a request's commit): a step's failure is logged and left to
   * its job, never thrown, and the next step still runs; the failed step is absent from the
   * result. "throw" (the jobs, which are that retry): the failure propagates, so the job
   * answers 500.
   */
  failures?: "log" | "throw";
}

export interface Drained {
  rewards?: { granted: number; failed: number };
  notifications?: { sent: number; waiting: number; failed: number };
}

/**
 * Drain what is due after a commit, for one company (or every company when `companyId` is
 * undefined): the due rewards first, then the due notifications. Returns what each step
 * that ran did.
 */
export async function drainAfterCommit(companyId: string | undefined, steps: DrainSteps): Promise<Drained> {
  const { rewards, notifications, failures = "log" } = steps;
  const who = companyId ?? "all companies";
  const run = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    if (failures === "throw") return work();
    try {
      return await work();
    } catch (err) {
      console.error(`${what} for ${who}:`, (err as Error).message);
      return undefined;
    }
  };
  const drained: Drained = {};
  if (rewards) {
    const r = await run("reward grants", () => grantDueRewards(companyId));
    if (r) drained.rewards = r;
  }
  if (notifications) {
    const n = await run("notifications", () => sendDueNotifications(companyId, notifications));
    if (n) drained.notifications = n;
  }
  return drained;
}
