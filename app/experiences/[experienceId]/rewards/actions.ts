"use server";

import type { ActionState } from "@/app/_components/action-form";
import { attempt } from "@/app/_components/attempt";
import { claimReward, markRewardClaimed } from "@/lib/rewards";
import { requireExperienceViewer } from "@/lib/whop/viewer";

/** Claim an unlocked reward that waits for the member (SQL checks it is the viewer's). */
export async function claimRewardAction(experienceId: string, redemptionId: string, _prev: ActionState): Promise<ActionState> {
  const viewer = await requireExperienceViewer(experienceId);
  let status = "";
  const state = await attempt(`/experiences/${experienceId}/rewards`, "", async () => {
    status = (await claimReward(viewer.companyId, viewer.userId, redemptionId)).status;
  });
  if (!state.ok) return state;
  return status === "granted"
    ? { ok: true, message: "Yours! It's listed under what you unlocked." }
    : status === "failed"
      ? { ok: false, message: "Whop didn't make the code yet; it will be retried." }
      : { ok: true, message: "Claimed: the creator will send it to you." };
}

/** The member used a granted reward (or received a custom one). */
export async function markUsedAction(experienceId: string, redemptionId: string, _prev: ActionState): Promise<ActionState> {
  const viewer = await requireExperienceViewer(experienceId);
  return attempt(`/experiences/${experienceId}/rewards`, "Marked as used.", () => markRewardClaimed(viewer.companyId, viewer.userId, redemptionId));
}
