"use server";

import { attempt } from "@/app/_components/attempt";
import { checkFreePlans } from "@/lib/campaigns";
import { getProgram } from "@/lib/programs";
import { createPointsItem, fulfilRedemption, grantPoints, GrantForm, ItemForm } from "@/lib/points";
import { createReward, fulfilRewardRedemption, retryRewardRedemption, RewardForm, updateReward } from "@/lib/rewards";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState } from "../action-state";

/** New milestone reward; a bad value is a visible form error and writes nothing. */
export async function createRewardAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const parsed = RewardForm.safeParse({
    name: field(form, "name"),
    description: field(form, "description"),
    threshold: field(form, "threshold"),
    reward_type: field(form, "reward_type"),
    value: field(form, "value"),
    amount_off: field(form, "discount_kind") === "amount",
    auto_apply: field(form, "auto_apply") !== "claim",
    campaign_id: field(form, "campaign_id"),
  });
  if (!parsed.success) return { ok: false, message: parsed.error.issues[0].message };
  if (parsed.data.reward_type === "product_unlock") {
    // free access is to one of this company's plans
    const bad = await checkFreePlans(companyId, [parsed.data.value]);
    if (bad) return { ok: false, message: bad };
  }
  const program = await getProgram(companyId);
  return attempt(`/dashboard/${companyId}/rewards`, `Added "${parsed.data.name}".`, () => createReward(companyId, parsed.data, program.currency));
}

/** Switch a milestone on or off (off: nobody unlocks it any more; what was unlocked stays). */
export async function setRewardActiveAction(companyId: string, rewardId: string, active: boolean, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}/rewards`, active ? "Switched on." : "Switched off.", () => updateReward(companyId, rewardId, { is_active: active }));
}

/** Try a failed Whop grant again now. */
export async function retryGrantAction(companyId: string, redemptionId: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  let status = "";
  const state = await attempt(`/dashboard/${companyId}/rewards`, "", async () => {
    status = (await retryRewardRedemption(companyId, redemptionId)).status;
  });
  if (!state.ok) return state;
  return status === "granted" ? { ok: true, message: "Granted." } : { ok: false, message: "Whop refused again; see the error." };
}

/** The creator gave a custom reward or prize by hand. */
export async function fulfilGrantAction(companyId: string, redemptionId: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}/rewards`, "Marked fulfilled.", () => fulfilRewardRedemption(companyId, redemptionId));
}

// ── Points: the shop's items, redemptions, and grants by hand (also on a member's page) ──

/** New redeemable item. */
export async function createItemAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const parsed = ItemForm.safeParse(Object.fromEntries(["name", "cost_points", "grant_type", "percent_off", "plan_id", "note"].map((f) => [f, field(form, f)])));
  if (!parsed.success) return { ok: false, message: parsed.error.issues[0].message };
  return attempt(`/dashboard/${companyId}`, `Added "${parsed.data.name}".`, () => createPointsItem(companyId, parsed.data));
}

/** Grant or deduct points by hand. */
export async function grantPointsAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const parsed = GrantForm.safeParse({ member: field(form, "member"), points: field(form, "points"), reason: field(form, "reason") });
  if (!parsed.success) return { ok: false, message: parsed.error.issues[0].message };
  let balance = 0;
  const state = await attempt(`/dashboard/${companyId}`, "", async () => {
    balance = await grantPoints(companyId, parsed.data.member, parsed.data.points, parsed.data.reason);
  });
  return state.ok ? { ok: true, message: `Done. ${parsed.data.member} now has ${balance} points.` } : state;
}

/** A custom reward was given to the member: the redemption becomes granted. */
export async function fulfilRedemptionAction(companyId: string, redemptionId: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}`, "Marked fulfilled.", () => fulfilRedemption(companyId, redemptionId));
}
