"use server";

import { attempt } from "@/app/_components/attempt";
import {
  CampaignAction, campaignFromForm, CampaignForm, type CampaignFormValues, campaignPatch, companyCatalog, createCampaign, getCampaign, PRIZE_PLACES, setCampaignStatus, updateCampaign,
} from "@/lib/campaigns";
import { DomainError } from "@/lib/db";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { field, type ActionState } from "../action-state";

/**
 * The campaign form's fields as CampaignForm reads them: only those the form had (an edit
 * form shows what the campaign's status allows; the rest keep their values).
 */
function formValues(form: FormData): Partial<CampaignFormValues> {
  const values: Partial<CampaignFormValues> = {};
  for (const k of ["name", "description", "start_date", "end_date", "bonus_rate", "bonus_points", "reach_count", "reach_value"] as const) {
    if (form.has(k)) values[k] = field(form, k);
  }
  if (form.has("reach_type")) values.reach_type = field(form, "reach_type") as CampaignFormValues["reach_type"];
  if (form.has("products_shown")) values.product_ids = form.getAll("product_ids").map(String);
  if (form.has("prize_1_type")) {
    values.prizes = Array.from({ length: PRIZE_PLACES }, (_, i) => ({
      type: field(form, `prize_${i + 1}_type`) as NonNullable<CampaignFormValues["prizes"]>[number]["type"],
      value: field(form, `prize_${i + 1}_value`),
    }));
  }
  return values;
}

/** New campaign: a draft, or scheduled when the "Schedule" button sent it. Nothing is written on an error. */
export async function createCampaignAction(companyId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const parsed = CampaignForm.safeParse(formValues(form));
  if (!parsed.success) return { ok: false, message: parsed.error.issues[0].message };
  const [program, catalog] = await Promise.all([getProgram(companyId), companyCatalog(companyId)]);
  const made = campaignFromForm(parsed.data, program.currency, catalog);
  if ("error" in made) return { ok: false, message: made.error };
  const scheduled = field(form, "intent") === "schedule";
  return attempt(`/dashboard/${companyId}/campaigns`, scheduled ? `Scheduled "${parsed.data.name}".` : `Saved "${parsed.data.name}" as a draft.`, () =>
    createCampaign(companyId, made.campaign, scheduled),
  );
}

/**
 * Edit what a campaign's status allows: a draft everything, a running one its name,
 * description and end date. Only what changed is sent; nothing is written on an error.
 */
export async function editCampaignAction(companyId: string, campaignId: string, _prev: ActionState, form: FormData): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  return attempt(`/dashboard/${companyId}/campaigns`, "Saved.", async () => {
    const [program, campaign] = await Promise.all([getProgram(companyId), getCampaign(companyId, campaignId)]);
    const values = formValues(form);
    // the catalog is only asked for when the form can name plans or products
    const catalog = values.prizes || values.product_ids || values.reach_type ? await companyCatalog(companyId) : null;
    const p = campaignPatch(campaign, values, program.timezone, program.currency, catalog);
    if ("error" in p) throw new DomainError(400, p.error);
    if (Object.keys(p.patch).length === 0) return;
    await updateCampaign(companyId, campaignId, p.patch);
  });
}

/** Schedule, unschedule, end now (prizes awarded) or archive. */
export async function campaignStatusAction(companyId: string, campaignId: string, action: string, _prev: ActionState): Promise<ActionState> {
  await requireCompanyAdmin(companyId);
  const a = CampaignAction.safeParse(action);
  if (!a.success) return { ok: false, message: "Unknown action" };
  const done = { schedule: "Scheduled.", unschedule: "Back to draft.", end: "Ended: standings frozen and prizes awarded.", archive: "Archived." }[a.data];
  return attempt(`/dashboard/${companyId}/campaigns`, done, () => setCampaignStatus(companyId, campaignId, a.data));
}
