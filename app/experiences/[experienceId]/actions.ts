"use server";

import type { ActionState } from "@/app/_components/action-form";
import { attempt } from "@/app/_components/attempt";
import { setReferralCode } from "@/lib/codes";
import { setNotificationsMuted } from "@/lib/notifications";
import { requestPayout } from "@/lib/payouts";
import { redeemItem } from "@/lib/points";
import { getProgram } from "@/lib/programs";
import { claimReferral, ClaimInput } from "@/lib/referrals";
import { whop } from "@/lib/whop/client";
import { requireExperienceViewer } from "@/lib/whop/viewer";

export type ClaimState = ActionState;

/** "Who invited you?" form: verifies the viewer, then claim_referral. */
export async function claimAction(experienceId: string, _prev: ClaimState, form: FormData): Promise<ClaimState> {
  const viewer = await requireExperienceViewer(experienceId);
  const input = ClaimInput.safeParse({ code: form.get("code") ?? "" });
  if (!input.success) return { ok: false, message: input.error.issues[0].message };
  const profile = await whop().users.retrieve(viewer.userId).catch(() => null);
  return attempt(`/experiences/${experienceId}`, "Thanks! Your referrer has been recorded.", () =>
    claimReferral(viewer.companyId, viewer.userId, profile?.username ?? null, input.data.code),
  );
}

/** "Request payout": the whole available balance; paid at once in automatic mode. */
export async function requestPayoutAction(experienceId: string, _prev: ActionState): Promise<ActionState> {
  const viewer = await requireExperienceViewer(experienceId);
  const program = await getProgram(viewer.companyId);
  let status = "";
  const state = await attempt(`/experiences/${experienceId}`, "", async () => {
    status = (await requestPayout(viewer.companyId, viewer.userId, program.payout_mode === "automatic")).status;
  });
  if (!state.ok) return state;
  return { ok: true, message: status === "completed" ? "Paid! The money is on its way to your Whop balance." : "Payout requested. The creator will review it." };
}

/** Redeem a reward with points. */
export async function redeemAction(experienceId: string, itemId: string, _prev: ActionState): Promise<ActionState> {
  const viewer = await requireExperienceViewer(experienceId);
  let message = "";
  const state = await attempt(`/experiences/${experienceId}`, "", async () => {
    const r = await redeemItem(viewer.companyId, viewer.userId, itemId);
    const code = (r.result as { promo_code?: string } | null)?.promo_code;
    message =
      r.status === "granted" ? `Redeemed! Your code: ${code}` : r.status === "failed" ? `Whop could not create the reward (${r.error}); your points are back.` : "Redeemed! The creator will get in touch.";
  });
  return state.ok ? { ok: true, message } : state;
}

/** "Change your code": a free vanity code (3–32 letters, digits, - or _). */
export async function setCodeAction(experienceId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  const viewer = await requireExperienceViewer(experienceId);
  const code = String(form.get("code") ?? "").trim();
  return attempt(`/experiences/${experienceId}`, `Your code is now ${code}.`, () => setReferralCode(viewer.companyId, viewer.userId, code));
}

/** Mute Referly's notifications, or hear them again. */
export async function setNotificationsAction(experienceId: string, muted: boolean, _prev: ActionState): Promise<ActionState> {
  const viewer = await requireExperienceViewer(experienceId);
  return attempt(`/experiences/${experienceId}`, muted ? "Notifications muted." : "Notifications are on.", () =>
    setNotificationsMuted(viewer.companyId, viewer.userId, muted),
  );
}
