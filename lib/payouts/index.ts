/**
 * Payouts (see docs/architecture.md, "Flows": payouts; SQL: request_payout, start_payout, complete_payout,
 * fail_payout, cancel_payout, due_payouts). Statuses: requested → processing →
 * completed | failed (commissions back to available) | cancelled.
 *
 * Paying calls Whop `transfers.create` from the company's ledger account to the member,
 * amount in decimal currency units, `idempotence_key` = the payout id, so a retry (after a
 * failure, a timeout, or a doubled answer) can never pay twice. The origin is only ever the
 * company's own account as Whop answers it for the verified company
 * (`ledgerAccounts.retrieve(companyId)`), checked before each transfer against the saved one.
 */
import { APIError } from "@whop/sdk";
import { z } from "zod";
import { rpc } from "../db";
import { Page, pageParams } from "../lists";
import { whop, whopErrorMessage } from "../whop/client";
import { companyLedgerAccount } from "../whop/gateway";
// the drain alone (not lib/webhooks, whose inbound side has no business here)
import { drainAfterCommit } from "../webhooks/after-commit";

/** Why a payout failed when the saved account is not the company's own (nothing was sent). */
export const NOT_OWN_ACCOUNT =
  "Payouts only leave this company's own Whop account, and the saved ledger account is not it: set it again in Settings (setup checklist).";

export const PayoutStatus = z.enum(["requested", "processing", "completed", "failed", "cancelled"]);

export const Payout = z.object({
  id: z.uuid(),
  company_id: z.string(),
  user_id: z.string(),
  amount_cents: z.number().int(),
  currency: z.string(),
  status: PayoutStatus,
  whop_transfer_id: z.string().nullable(),
  error: z.string().nullable(),
});
export type Payout = z.infer<typeof Payout>;

const Started = z.discriminatedUnion("status", [
  z.object({
    id: z.uuid(),
    status: z.literal("processing"),
    user_id: z.string(),
    amount_cents: z.number().int(),
    amount: z.string(),
    currency: z.string(),
    ledger_account_id: z.string(),
  }),
  // refunds left nothing to pay: start_payout cancelled it
  z.object({ id: z.uuid(), status: z.literal("cancelled") }),
]);

/**
 * The member asks for their whole available balance. Throws DomainError 409 (a payout is
 * open) or 400 (below the minimum / negative balance). In automatic payout mode the payout
 * is sent at once.
 */
export async function requestPayout(companyId: string, userId: string, automatic: boolean): Promise<Payout> {
  const payout = await rpc("request_payout", { p_company_id: companyId, p_user_id: userId }, Payout);
  return automatic ? payPayout(companyId, payout.id) : payout;
}

/**
 * Send a payout (creator's approve or retry, automatic mode, the payouts job). Claiming the
 * send is atomic (start_payout): while one send is in flight, another approval answers
 * DomainError 409 "already being paid" and Whop is not called; only the payouts job passes
 * `resend` (for a payout whose send got no answer 10 minutes ago, same idempotence key). A definite
 * refusal by Whop (an API error with a 4xx status) fails it with Whop's message; no answer
 * (timeout, network, 5xx) leaves it processing — the outcome is unknown — and the payouts
 * job resends it with the same idempotence key. A saved ledger account that is not the
 * company's own (per Whop) fails the payout with NOT_OWN_ACCOUNT before any transfer.
 * Throws DomainError from start_payout, or the SDK's error when Whop can't be asked.
 */
export async function payPayout(companyId: string, payoutId: string, opts: { resend?: boolean } = {}): Promise<Payout> {
  // the company's own account, from Whop, before anything moves (a lookup failure throws)
  const own = await companyLedgerAccount(companyId);
  const p = await rpc("start_payout", { p_company_id: companyId, p_payout_id: payoutId, p_resend: opts.resend ?? false }, Started);
  if (p.status === "cancelled") return rpc("get_payout", { p_company_id: companyId, p_payout_id: p.id }, Payout);
  if (!own || own.id !== p.ledger_account_id) {
    return rpc("fail_payout", { p_company_id: companyId, p_payout_id: p.id, p_error: NOT_OWN_ACCOUNT }, Payout);
  }
  let transferId: string;
  try {
    const transfer = await whop().transfers.create({
      origin_id: own.id,
      destination_id: p.user_id,
      // decimal currency units, from the exact decimal text SQL computed
      amount: Number(p.amount),
      currency: p.currency.toLowerCase(),
      idempotence_key: p.id,
      metadata: { payout_id: p.id },
      notes: "Referly referral commissions",
    });
    // a ledger transfer answers a Transfer with an id (the other shapes are wallet sends)
    if (!("id" in transfer) || typeof transfer.id !== "string") throw new Error("Whop answered without a transfer id");
    transferId = transfer.id;
  } catch (err) {
    if (err instanceof APIError && typeof err.status === "number" && err.status >= 400 && err.status < 500) {
      return rpc("fail_payout", { p_company_id: companyId, p_payout_id: p.id, p_error: whopErrorMessage(err) }, Payout);
    }
    console.error(`payout ${p.id}: no definite answer from Whop, will retry`, err);
    return rpc("get_payout", { p_company_id: companyId, p_payout_id: p.id }, Payout);
  }
  const done = await rpc("complete_payout", { p_company_id: companyId, p_payout_id: p.id, p_transfer_id: transferId }, Payout);
  // "payout sent" to the member (a failure waits for the notifications job)
  await drainAfterCommit(companyId, { notifications: 20 });
  return done;
}

/** Creator cancels a requested or failed payout (commissions return to available). */
export function cancelPayout(companyId: string, payoutId: string, reason: string): Promise<Payout> {
  return rpc("cancel_payout", { p_company_id: companyId, p_payout_id: payoutId, p_reason: reason }, Payout);
}

/**
 * Job: batch payouts of automatic programs by their frequency, plus resending payouts
 * whose earlier attempt got no answer. Safe to run twice. Returns per-status counts.
 */
export async function runPayoutBatch(): Promise<Record<string, number>> {
  const due = await rpc("due_payouts", {}, z.array(z.object({ company_id: z.string(), payout_id: z.uuid() })));
  const counts: Record<string, number> = {};
  for (const d of due) {
    let status: string;
    try {
      status = (await payPayout(d.company_id, d.payout_id, { resend: true })).status;
    } catch (err) {
      status = "skipped";
      console.error(`payout ${d.payout_id}`, err);
    }
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}

export const PayoutRow = z.object({
  id: z.uuid(),
  user_id: z.string(),
  member: z.string(),
  amount_cents: z.number().int(),
  currency: z.string(),
  status: PayoutStatus,
  error: z.string().nullable(),
  reason: z.string().nullable(),
  whop_transfer_id: z.string().nullable(),
  attempts: z.number().int(),
  requested_at: z.string(),
  completed_at: z.string().nullable(),
});
export type PayoutRow = z.infer<typeof PayoutRow>;

/** The payouts list's query: status, member (user id or username), sort requested | amount. */
export const PayoutQuery = pageParams(["requested", "amount"] as const).extend({
  status: PayoutStatus.optional(),
  member: z.string().trim().min(1).max(64).optional(),
});
export type PayoutQuery = z.infer<typeof PayoutQuery>;

/** One page (≤ 50) of a company's payouts, newest request first by default. */
export function listPayouts(companyId: string, query: PayoutQuery, limit?: number): Promise<Page<PayoutRow>> {
  return rpc("list_payouts", { p_company_id: companyId, p_filter: { ...query, limit } }, Page(PayoutRow));
}
