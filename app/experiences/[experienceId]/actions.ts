"use server";

import { revalidatePath } from "next/cache";
import { DomainError } from "@/lib/db";
import { claimReferral, ClaimInput } from "@/lib/referrals";
import { whop } from "@/lib/whop/client";
import { requireExperienceViewer } from "@/lib/whop/viewer";

export interface ClaimState {
  ok: boolean;
  message: string | null;
}

/** "Who invited you?" form: verifies the viewer, then claim_referral. */
export async function claimAction(experienceId: string, _prev: ClaimState, form: FormData): Promise<ClaimState> {
  const viewer = await requireExperienceViewer(experienceId);
  const input = ClaimInput.safeParse({ code: form.get("code") ?? "" });
  if (!input.success) return { ok: false, message: input.error.issues[0].message };
  const profile = await whop().users.retrieve(viewer.userId).catch(() => null);
  try {
    await claimReferral(viewer.companyId, viewer.userId, profile?.username ?? null, input.data.code);
  } catch (err) {
    if (err instanceof DomainError) return { ok: false, message: err.message };
    throw err;
  }
  revalidatePath(`/experiences/${experienceId}`);
  return { ok: true, message: "Thanks! Your referrer has been recorded." };
}
