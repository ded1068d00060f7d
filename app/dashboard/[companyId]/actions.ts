"use server";

import { revalidatePath } from "next/cache";
import { attempt } from "@/app/_components/attempt";
import type { ActionState } from "@/app/_components/action-form";
import { checkFreePlans } from "@/lib/campaigns";
import { decideCommission } from "@/lib/commissions";
import { cancelPayout, payPayout } from "@/lib/payouts";
import { createPointsItem, fulfilRedemption, grantPoints, GrantForm, ItemForm } from "@/lib/points";
import { setTimezone } from "@/lib/analytics";
import { setReferralCode } from "@/lib/codes";
import { setCodeActive } from "@/lib/members";
import { confirmTerms, getProgram, saveSettings, setProgramLedgerAccount, setProgramPlan, settingsFormValues } from "@/lib/programs";
import { companyLedgerAccount, listCompanyPlans } from "@/lib/whop/gateway";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

export interface SettingsState {
  ok: boolean;
  message: string | null;
  errors: Record<string, string>;
}

const field = (form: FormData, name: string) => String(form.get(name) ?? "");

/** Program settings form: admins only; zod-validated; nothing written on error. */
export async function saveSettingsAction(companyId: string, _prev: SettingsState, form: FormData): Promise<SettingsState> {
  await requireCompanyAdmin(companyId);
  const program = await getProgram(companyId);
  // the form's field names (the weights given here do not matter: only the keys are read)
  const values = Object.fromEntries(Object.keys(settingsFormValues(program, {})).map((f) => [f, field(form, f)]));
  const result = await saveSettings(companyId, program.currency, values, (planIds) => checkFreePlans(companyId, planIds));
  if (!result.ok) return { ok: false, message: result.errors._form ?? "Please fix the highlighted fields.", errors: result.errors };
  revalidatePath(`/dashboard/${companyId}`, "layout");
  return { ok: true, message: "Settings saved.", errors: {} };
}

/** Approve or cancel one commission, with a reason. */
export async function decideCommissionAction(
  companyId: string,
  commissionId: string,
  decision: "approve" | "cancel",
  _prev: ActionState,
  form: FormData,
): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}`, decision === "approve" ? "Approved." : "Cancelled.", () =>
    decideCommission(companyId, commissionId, decision, field(form, "reason")),
  );
}

/** Pay (approve or retry) or cancel a payout. */
export async function payoutAction(
  companyId: string,
  payoutId: string,
  op: "pay" | "cancel",
  _prev: ActionState,
  form: FormData,
): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  if (op === "cancel") {
    return attempt(`/dashboard/${companyId}`, "Payout cancelled.", () => cancelPayout(companyId, payoutId, field(form, "reason") || "cancelled by the creator"));
  }
  let status = "";
  const state = await attempt(`/dashboard/${companyId}`, "", async () => {
    status = (await payPayout(companyId, payoutId)).status;
  });
  if (!state.ok) return state;
  return status === "completed"
    ? { ok: true, message: "Paid through Whop." }
    : status === "failed"
      ? { ok: false, message: "Whop refused the transfer; see the error in the queue." }
      : { ok: true, message: "Sent; waiting for Whop's answer." };
}

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

/** Setup: the plan referral links sell, picked from the company's plans as Whop lists them (never a typed id). */
export async function choosePlanAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const planId = field(form, "plan_id");
  const plans = await listCompanyPlans(companyId);
  const plan = plans.find((p) => p.id === planId);
  if (!plan) return { ok: false, message: "Pick one of this company's plans." };
  return attempt(`/dashboard/${companyId}`, `Links now sell ${plan.title}.`, () =>
    setProgramPlan(companyId, plan.id),
  );
}

/** Setup: pay out from the company's own Whop ledger account, as the Whop API gives it for this company. */
export async function adoptLedgerAccountAction(companyId: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const account = await companyLedgerAccount(companyId);
  if (!account) return { ok: false, message: "Whop didn't show this company's balance account to the app." };
  return attempt(`/dashboard/${companyId}`, `Payouts will come from ${account.id}.`, () =>
    setProgramLedgerAccount(companyId, account.id),
  );
}

/** Setup: the creator confirms the commission and hold period. */
export async function confirmTermsAction(companyId: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}`, "Confirmed.", () => confirmTerms(companyId));
}

/** The program's time zone (analytics days); an unknown zone is refused with a message. */
export async function setTimezoneAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const tz = field(form, "timezone").trim();
  return attempt(`/dashboard/${companyId}`, `Days now follow ${tz}.`, () => setTimezone(companyId, tz));
}

/** Switch a member's code off or on (members section). */
export async function setCodeActiveAction(companyId: string, userId: string, active: boolean, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}`, active ? "Code switched on." : "Code switched off: its link no longer counts.", () =>
    setCodeActive(companyId, userId, active),
  );
}

/** Change a member's code for them (same rules as the member's own vanity code). */
export async function changeMemberCodeAction(companyId: string, userId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const code = field(form, "code").trim();
  return attempt(`/dashboard/${companyId}`, `Code changed to ${code}.`, () => setReferralCode(companyId, userId, code));
}
