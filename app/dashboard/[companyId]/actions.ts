"use server";

/**
 * The setup checklist's actions (setup-checklist.tsx, beside: shown on Home and in
 * Settings). Each section's own actions are in its folder's actions.ts.
 */

import { attempt } from "@/app/_components/attempt";
import { confirmTerms, setProgramLedgerAccount, setProgramPlan } from "@/lib/programs";
import { companyLedgerAccount, listCompanyPlans } from "@/lib/whop/gateway";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState } from "./action-state";

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
