"use server";

import { attempt } from "@/app/_components/attempt";
import { checkFreePlans } from "@/lib/campaigns";
import { ChallengeForm, createChallengeFromForm, stopChallenge } from "@/lib/gamification";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState } from "../../action-state";

/** New challenge; a bad value is a visible form error and writes nothing. */
export async function createChallengeAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const parsed = ChallengeForm.safeParse({
    challenge_name: field(form, "challenge_name"),
    target_referrals: field(form, "target_referrals"),
    period: field(form, "period"),
    starts_at: field(form, "starts_at"),
    ends_at: field(form, "ends_at"),
    reward_type: field(form, "reward_type"),
    value: field(form, "value"),
    amount_off: field(form, "discount_kind") === "amount",
  });
  if (!parsed.success) return { ok: false, message: parsed.error.issues[0].message };
  if (parsed.data.reward_type === "product_unlock") {
    // free access is to one of this company's plans
    const bad = await checkFreePlans(companyId, [parsed.data.value]);
    if (bad) return { ok: false, message: bad };
  }
  const program = await getProgram(companyId);
  return attempt(`/dashboard/${companyId}/rewards/challenges`, `Added "${parsed.data.challenge_name}".`, () =>
    createChallengeFromForm(companyId, parsed.data, program.currency),
  );
}

/** Stop a challenge: no more progress; rewards already won stay. */
export async function stopChallengeAction(companyId: string, challengeId: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}/rewards/challenges`, "Stopped.", () => stopChallenge(companyId, challengeId));
}
