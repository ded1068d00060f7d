import { day } from "@/app/_components/format";
import { explainCheck, type FraudRow } from "@/lib/fraud";
import { formatMoney } from "@/lib/money";
import type { ReviewRow } from "./review-form";

/** The referrer's other reviews in words: "2 held, 1 rejected" or "First review". */
export function historyWords(h: FraudRow["history"]): string {
  const parts = (["held", "flagged", "rejected", "approved"] as const).filter((k) => h[k] > 0).map((k) => `${h[k]} ${k}`);
  return parts.length ? `Other referrals: ${parts.join(", ")}` : "First review";
}

/** A queue row as the review form shows it (explanations in words, money formatted). */
export function reviewRow(r: FraudRow, base: string, currency: string, viewerId: string): ReviewRow {
  const decided = r.fraud_status === "approved" || r.fraud_status === "rejected";
  return {
    id: r.id,
    referrer: r.referrer,
    referrerUserId: r.referrer_user_id,
    referrerHref: `${base}/members/${encodeURIComponent(r.referrer_user_id)}`,
    referee: r.referee,
    refereeHref: `${base}/members/${encodeURIComponent(r.referee_user_id)}`,
    trusted: r.referrer_trusted,
    score: r.fraud_score,
    fraudStatus: r.fraud_status,
    held: r.held_cents !== 0 ? formatMoney(r.held_cents, r.currency ?? currency) : null,
    convertedOn: r.converted_at ? `Paid ${day(r.converted_at)}` : `Joined ${day(r.created_at)}`,
    reasons: r.checks.map((c) => explainCheck(c, r.referrer, r.referrer_user_id)),
    history: historyWords(r.history),
    decision:
      decided && r.decided_at
        ? `${r.fraud_status === "approved" ? "Approved" : "Rejected"} ${day(r.decided_at)} by ${r.decided_by === viewerId ? "you" : (r.decided_by ?? "—")}: ${r.reason ?? ""}`
        : null,
  };
}
