"use server";

/** The commissions page's actions. */

import { attempt } from "@/app/_components/attempt";
import { decideCommission } from "@/lib/commissions";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState } from "../action-state";

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
