/**
 * Notifications through Whop (see docs/architecture.md, "Gamification"; SQL: queue_notification and
 * the outbox triggers, take_due_notifications, settle_notification, set_notifications_muted,
 * note_experience — supabase/schemas/70_notifications.sql). The event's transaction queues a row
 * (commission earned, tier reached, milestone reached, challenge completed, payout sent);
 * this module sends due rows after the commit (lib/webhooks/after-commit drainAfterCommit) —
 * the webhook for its company, a completed payout, and the `notifications` job for retries —
 * through the real SDK's `notifications.create` to the member in the company's Referly
 * experience, with a deep link (`rest_path`) to the section it is about.
 *
 * At most once: a row is taken by one sender at a time (take_due_notifications leases it with
 * a backoff of 1, 2, 4 … 256 minutes) and marked sent when Whop accepts it; the request
 * carries the row id as Idempotency-Key for a lost answer. A Whop failure never throws out of
 * here: the row waits for its next attempt ('failed' after the 9th).
 */
import { z } from "zod";
import { rpc } from "../db";
import { formatMoney } from "../money";
import { whop, whopErrorMessage } from "../whop/client";

export const NotificationKind = z.enum(["commission_earned", "tier_reached", "milestone_reached", "challenge_completed", "payout_sent"]);
export type NotificationKind = z.infer<typeof NotificationKind>;

/** What the creator's settings call each kind (the checkboxes that turn one off). */
export const KIND_LABELS: Record<NotificationKind, string> = {
  commission_earned: "Commission earned",
  tier_reached: "Tier reached",
  milestone_reached: "Milestone reached",
  challenge_completed: "Challenge completed",
  payout_sent: "Payout sent",
};

const Due = z.object({
  id: z.uuid(),
  company_id: z.string(),
  user_id: z.string(),
  kind: NotificationKind,
  data: z.record(z.string(), z.unknown()),
  attempts: z.number().int(),
  experience_id: z.string().nullable(),
});
type Due = z.infer<typeof Due>;

/** The words and deep link of a queued notification (its data: see the migration). */
export function renderNotification(kind: NotificationKind, data: Record<string, unknown>): { title: string; content: string; rest_path: string } {
  const money = () => formatMoney(Number(data.amount_cents), String(data.currency));
  switch (kind) {
    case "commission_earned":
      return data.kind === "bonus"
        ? { title: `You won ${money()}`, content: "A prize was added to your earnings.", rest_path: "/earnings" }
        : {
            title: `You earned ${money()}`,
            content: `A payment from someone you referred${Number(data.level) > 1 ? ` (level ${data.level})` : ""} earned you ${money()} in commission.`,
            rest_path: "/earnings",
          };
    case "tier_reached":
      return {
        title: `You reached ${data.tier}!`,
        content: Number(data.bonus_pct) > 0 ? `From now on your commissions earn +${data.bonus_pct}%. Tiers are for good.` : "Tiers are for good.",
        rest_path: "/",
      };
    case "milestone_reached":
      return { title: `Milestone reached: ${data.name}`, content: "Open Rewards to see what you unlocked.", rest_path: "/rewards" };
    case "challenge_completed":
      return { title: `Challenge complete: ${data.name}`, content: "Your reward is on its way. Open Rewards to see it.", rest_path: "/rewards" };
    case "payout_sent":
      return { title: `Payout sent: ${money()}`, content: "Your commissions were paid to your Whop balance.", rest_path: "/earnings" };
  }
}

async function send(n: Due): Promise<string | null> {
  if (!n.experience_id) return "no member has opened the app in this company yet";
  try {
    await whop().notifications.create(
      { experience_id: n.experience_id, user_ids: [n.user_id], ...renderNotification(n.kind, n.data) },
      // bounded: the webhook waits for this, and the job retries anything slow. The key goes
      // as a header: @whop/sdk drops its own idempotencyKey option (the client configures no
      // idempotency header), and a retry after a lost answer must not notify twice.
      { headers: { "Idempotency-Key": `notification-${n.id}` }, timeout: 5_000, maxRetries: 0 },
    );
    return null;
  } catch (err) {
    return whopErrorMessage(err) || "Whop did not answer";
  }
}

/**
 * Send due notifications (of one company, or all when `companyId` is omitted), up to
 * `limit`. Never throws for a Whop failure (the row waits for its next attempt); throws only
 * when the database can't be reached. Returns {sent, waiting (to be retried), failed (gave up)}.
 */
export async function sendDueNotifications(companyId?: string, limit = 100): Promise<{ sent: number; waiting: number; failed: number }> {
  const due = await rpc("take_due_notifications", { p_limit: limit, p_company_id: companyId ?? null }, z.array(Due));
  const counts = { sent: 0, waiting: 0, failed: 0 };
  for (const n of due) {
    const error = await send(n);
    const status = await rpc("settle_notification", { p_id: n.id, p_error: error }, z.string().nullable());
    if (status === "sent") counts.sent++;
    else if (status === "failed") counts.failed++;
    else counts.waiting++;
  }
  return counts;
}

/** The member mutes (or hears again) Referly's notifications. DomainError 404 for an unknown member. */
export function setNotificationsMuted(companyId: string, userId: string, muted: boolean): Promise<boolean> {
  return rpc("set_notifications_muted", { p_company_id: companyId, p_user_id: userId, p_muted: muted }, z.boolean());
}

/** Remember the company's Referly experience (where members are reached); a no-op when known. */
export async function noteExperience(companyId: string, experienceId: string): Promise<void> {
  await rpc("note_experience", { p_company_id: companyId, p_experience_id: experienceId }, z.unknown());
}
