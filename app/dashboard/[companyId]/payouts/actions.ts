"use server";

/** The payouts page's actions. */

import { attempt } from "@/app/_components/attempt";
import { cancelPayout, payPayout } from "@/lib/payouts";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState } from "../action-state";

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
