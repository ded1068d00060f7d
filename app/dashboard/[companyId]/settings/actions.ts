"use server";

/** The settings page's actions (the settings form, beside, and the time zone). */

import { revalidatePath } from "next/cache";
import { attempt } from "@/app/_components/attempt";
import { setTimezone } from "@/lib/analytics";
import { checkFreePlans } from "@/lib/campaigns";
import { getProgram, saveSettings, settingsFormValues } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState, type SettingsState } from "../action-state";

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

/** The program's time zone (analytics days); an unknown zone is refused with a message. */
export async function setTimezoneAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const tz = field(form, "timezone").trim();
  return attempt(`/dashboard/${companyId}`, `Days now follow ${tz}.`, () => setTimezone(companyId, tz));
}
