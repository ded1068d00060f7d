"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import type { ActionState } from "@/app/_components/action-form";
import { attempt } from "@/app/_components/attempt";
import { DomainError } from "@/lib/db";
import { decideReferrals, setMemberTrusted } from "@/lib/fraud";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

/**
 * What the review form's buttons send as `op`: "approve" / "reject" (the ticked rows),
 * "approve:<referral id>" / "reject:<referral id>" (one row), "trust:<user id>" (the
 * row's referrer goes on the allow-list).
 */
const Op = z.union([
  z.object({ kind: z.enum(["approve", "reject"]), id: z.undefined() }),
  z.object({ kind: z.enum(["approve", "reject"]), id: z.uuid() }),
  z.object({ kind: z.literal("trust"), id: z.string().regex(/^user_[A-Za-z0-9_]+$/) }),
]);

/** Words for a skipped referral's error (decide_referral's RL404 / RL409 messages). */
function skippedWhy(error: string): string {
  if (/not waiting for review/i.test(error)) return "already decided";
  if (/no such referral/i.test(error)) return "not found";
  return error;
}

/** "Approved 3; 1 skipped: already decided". */
function summary(decision: "approve" | "reject", decided: number, skipped: { error: string }[]): string {
  let s = `${decision === "approve" ? "Approved" : "Rejected"} ${decided}`;
  if (skipped.length) {
    const why = new Map<string, number>();
    for (const k of skipped) why.set(skippedWhy(k.error), (why.get(skippedWhy(k.error)) ?? 0) + 1);
    s += `; ${skipped.length} skipped: ${[...why].map(([w, n]) => (why.size > 1 ? `${n} ${w}` : w)).join(", ")}`;
  }
  return `${s}.`;
}

/**
 * The review queue's one form (Fraud section): approve or reject the ticked referrals or
 * one row's, with the reason field, as the signed-in admin (their Whop user id goes to the
 * ledger); or trust a row's referrer. Every refusal is a visible message, nothing written.
 */
export async function reviewAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  const admin = await requireCompanyAdmin(companyId);
  const raw = String(form.get("op") ?? "");
  const [kind, id] = raw.split(/:(.*)/s);
  const op = Op.safeParse({ kind, id: id || undefined });
  if (!op.success) return { ok: false, message: "Pick Approve or Reject." };

  if (op.data.kind === "trust") {
    const userId = op.data.id;
    return attempt(`/dashboard/${companyId}`, "Trusted: their next referrals are still checked but never held. Decide the ones already here.", () =>
      setMemberTrusted(companyId, userId, true, admin.userId),
    );
  }

  const decision = op.data.kind;
  const ids = op.data.id ? [op.data.id] : form.getAll("id").map(String);
  if (ids.length === 0) return { ok: false, message: "Tick at least one referral first." };
  if (!ids.every((i) => z.uuid().safeParse(i).success)) return { ok: false, message: "That selection is not one of the queue's referrals; reload the page." };
  const reason = String(form.get("reason") ?? "").trim();
  if (!reason) return { ok: false, message: `Give a reason to ${decision} (it is kept in the ledger).` };
  if (reason.length > 500) return { ok: false, message: "Keep the reason under 500 characters." };

  try {
    const result = await decideReferrals(companyId, ids, decision, reason, admin.userId);
    revalidatePath(`/dashboard/${companyId}`, "layout");
    return { ok: result.decided.length > 0, message: summary(decision, result.decided.length, result.skipped) };
  } catch (err) {
    if (err instanceof DomainError) return { ok: false, message: err.message };
    throw err;
  }
}

/** Put a member on the allow-list or take them off (member page, settings). */
export async function setTrustedAction(companyId: string, userId: string, trusted: boolean, _prev: ActionState): Promise<ActionState> {
  const admin = await requireCompanyAdmin(companyId);
  return attempt(
    `/dashboard/${companyId}`,
    trusted ? "Trusted: their referrals are still checked but never held." : "No longer trusted: their referrals can be held again.",
    () => setMemberTrusted(companyId, userId, trusted, admin.userId),
  );
}
