"use server";

/** A member's page's code actions (members/[userId]). */

import { attempt } from "@/app/_components/attempt";
import { setReferralCode } from "@/lib/codes";
import { setCodeActive } from "@/lib/members";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState } from "../action-state";

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
