"use server";

import { revalidatePath } from "next/cache";
import { getProgram, saveSettings } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

export interface SettingsState {
  ok: boolean;
  message: string | null;
  errors: Record<string, string>;
}

/** Program settings form: admins only; zod-validated; nothing written on error. */
export async function saveSettingsAction(companyId: string, _prev: SettingsState, form: FormData): Promise<SettingsState> {
  await requireCompanyAdmin(companyId);
  const program = await getProgram(companyId);
  const fields = ["commission_percent", "hold_days", "min_payout", "plan_id", "landing_url"];
  const result = await saveSettings(
    companyId,
    program.currency,
    Object.fromEntries(fields.map((f) => [f, String(form.get(f) ?? "")])),
  );
  if (!result.ok) return { ok: false, message: "Please fix the highlighted fields.", errors: result.errors };
  revalidatePath(`/dashboard/${companyId}`);
  return { ok: true, message: "Settings saved.", errors: {} };
}
