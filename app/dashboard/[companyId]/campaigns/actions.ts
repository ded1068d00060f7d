"use server";

import { attempt } from "@/app/_components/attempt";
import type { ActionState } from "@/app/_components/action-form";
import { CampaignAction, campaignFromForm, CampaignForm, createCampaign, PRIZE_PLACES, setCampaignStatus, updateCampaign } from "@/lib/campaigns";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

const field = (form: FormData, name: string) => String(form.get(name) ?? "");

/** The campaign form's fields as CampaignForm reads them. */
function formValues(form: FormData) {
  return {
    name: field(form, "name"),
    description: field(form, "description"),
    start_date: field(form, "start_date"),
    end_date: field(form, "end_date"),
    bonus_rate: field(form, "bonus_rate"),
    bonus_points: field(form, "bonus_points"),
    product_ids: form.getAll("product_ids").map(String),
    prizes: Array.from({ length: PRIZE_PLACES }, (_, i) => ({ type: field(form, `prize_${i + 1}_type`), value: field(form, `prize_${i + 1}_value`) })),
    reach_count: field(form, "reach_count"),
    reach_type: field(form, "reach_type"),
    reach_value: field(form, "reach_value"),
  };
}

/** New campaign: a draft, or scheduled when the "Schedule" button sent it. Nothing is written on an error. */
export async function createCampaignAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const parsed = CampaignForm.safeParse(formValues(form));
  if (!parsed.success) return { ok: false, message: parsed.error.issues[0].message };
  const program = await getProgram(companyId);
  const made = campaignFromForm(parsed.data, program.currency);
  if ("error" in made) return { ok: false, message: made.error };
  const scheduled = field(form, "intent") === "schedule";
  return attempt(`/dashboard/${companyId}/campaigns`, scheduled ? `Scheduled "${parsed.data.name}".` : `Saved "${parsed.data.name}" as a draft.`, () =>
    createCampaign(companyId, made.campaign, scheduled),
  );
}

/** Edit what a campaign's status allows (name, description, end date). */
export async function editCampaignAction(companyId: string, campaignId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const patch: Record<string, string> = {};
  for (const k of ["name", "description", "end_date"]) if (form.has(k)) patch[k] = field(form, k).trim();
  if (patch.end_date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(patch.end_date)) return { ok: false, message: "Pick an end date" };
  return attempt(`/dashboard/${companyId}/campaigns`, "Saved.", () => updateCampaign(companyId, campaignId, patch));
}

/** Schedule, unschedule, end now (prizes awarded) or archive. */
export async function campaignStatusAction(companyId: string, campaignId: string, action: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const a = CampaignAction.safeParse(action);
  if (!a.success) return { ok: false, message: "Unknown action" };
  const done = { schedule: "Scheduled.", unschedule: "Back to draft.", end: "Ended: standings frozen and prizes awarded.", archive: "Archived." }[a.data];
  return attempt(`/dashboard/${companyId}/campaigns`, done, () => setCampaignStatus(companyId, campaignId, a.data));
}
