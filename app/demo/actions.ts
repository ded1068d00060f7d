"use server";

import { randomUUID } from "node:crypto";
import { cookies } from "next/headers";
import { notFound, redirect } from "next/navigation";
import { z } from "zod";
import { env } from "@/lib/env";
import { explainCheck, getMemberFraud, type FraudRow } from "@/lib/fraud";
import { listMembers } from "@/lib/members";
import { whop } from "@/lib/whop/client";
import {
  DEMO_COMPANY_ID,
  DEMO_COOKIE,
  DEMO_EXPERIENCE_ID,
  DEMO_USERS,
  membershipActivatedEvent,
  paymentSucceededEvent,
  signWebhook,
} from "@/lib/demo";

function requireDemo() {
  if (!env().demo) notFound();
}

/** Landing page "view as": remember the identity; the proxy signs its user token. */
export async function viewAs(userId: string) {
  requireDemo();
  const user = DEMO_USERS.find((u) => u.id === userId);
  if (!user) notFound();
  (await cookies()).set(DEMO_COOKIE, user.id, { httpOnly: true, sameSite: "lax", path: "/" });
  redirect(user.role === "creator" ? `/dashboard/${DEMO_COMPANY_ID}` : `/experiences/${DEMO_EXPERIENCE_ID}`);
}

export interface PurchaseState {
  ok: boolean;
  message: string | null;
}

const Buyer = z.object({ name: z.string().trim().min(2, "Enter the buyer's name (2–40 characters)").max(40, "Enter the buyer's name (2–40 characters)") });

/**
 * "Simulate a purchase": a new buyer pays $49.99 through the demo checkout. Sends
 * membership.activated and payment.succeeded, signed with the webhook secret, to the
 * app's own /api/webhooks/whop — the production path.
 */
export async function simulatePurchase(checkoutId: string, _prev: PurchaseState, form: FormData): Promise<PurchaseState> {
  requireDemo();
  const buyer = Buyer.safeParse({ name: form.get("name") ?? "" });
  if (!buyer.success) return { ok: false, message: buyer.error.issues[0].message };
  const config = await whop().checkoutConfigurations.retrieve(checkoutId);
  const metadata = (config.metadata ?? null) as Record<string, unknown> | null;
  const slug = buyer.data.name.toLowerCase().replace(/[^a-z0-9]+/g, "");
  const id = randomUUID().replace(/-/g, "").slice(0, 10);
  const user = { id: `user_demo_${slug.slice(0, 12) || "buyer"}${id.slice(0, 4)}`, username: slug || "buyer", name: buyer.data.name };
  const planId = config.plan?.id ?? "plan_demo";
  const membershipId = `mem_${id}`;
  const events = [
    membershipActivatedEvent({ eventId: `evt_${id}_m`, membershipId, companyId: DEMO_COMPANY_ID, user, planId, metadata }),
    paymentSucceededEvent({
      eventId: `evt_${id}_p`,
      paymentId: `pay_${id}`,
      membershipId,
      companyId: DEMO_COMPANY_ID,
      user,
      planId,
      total: 49.99,
      metadata,
    }),
  ];
  const secret = env().WHOP_WEBHOOK_SECRET;
  if (!secret) return { ok: false, message: "The demo has no webhook secret; start it with npm run dev." };
  let outcome: string | null = null;
  for (const event of events) {
    const body = JSON.stringify(event);
    const res = await fetch(`${env().appUrl}/api/webhooks/whop`, {
      method: "POST",
      headers: signWebhook(secret, event.id, body),
      body,
    });
    if (!res.ok) return { ok: false, message: `The webhook endpoint answered ${res.status}: ${await res.text()}` };
    if (event.type === "payment.succeeded") outcome = ((await res.json()) as { outcome?: string | null }).outcome ?? null;
  }
  const paid = `${buyer.data.name} paid $49.99.`;
  const review = await fraudReview(typeof metadata?.referral_code === "string" ? metadata.referral_code : null, user.id);
  const why = review && review.checks.length ? ` — ${review.checks.map((c) => lowerFirst(explainCheck(c, review.referrer, review.referrer_user_id))).join("; ")}` : "";
  if (outcome === "commission_held") {
    return {
      ok: true,
      message: `${paid} The referral converted, but its commission is held for fraud review${why}. Approve it in the dashboard's Fraud section (view as the creator); until then the member sees it as "Under review".`,
    };
  }
  if (outcome === "commission_created") {
    const flagged = review?.fraud_status === "flagged" ? ` It was flagged for review${why}, but paid as usual.` : "";
    return { ok: true, message: `${paid} The referral converted and a commission is pending.${flagged}` };
  }
  return { ok: true, message: `${paid} No commission came of it (${(outcome ?? "no answer").replace(/_/g, " ")}).` };
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** The buyer's referral as the creator's review shows it (null when it was not checked or not found). */
async function fraudReview(code: string | null, buyerId: string): Promise<FraudRow | null> {
  if (!code) return null;
  const owner = (await listMembers(DEMO_COMPANY_ID, { q: code })).rows.find((m) => m.code?.toLowerCase() === code.toLowerCase());
  if (!owner) return null;
  return (await getMemberFraud(DEMO_COMPANY_ID, owner.user_id)).rows.find((r) => r.referee_user_id === buyerId) ?? null;
}
