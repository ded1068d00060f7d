/**
 * Campaigns (seed 001 `campaigns`; DESIGN.md "Campaigns and rewards"). SQL: create_campaign,
 * update_campaign, set_campaign_status, list_campaigns, get_campaign, advance_campaigns,
 * award_campaign_prizes (migration …_campaigns.sql, where a conversion joins the campaign
 * active then, its bonus rate and points apply, and the standings are kept).
 *
 * Status draft → active → ended → archived follows the dates (derived on every read, moved
 * by the `campaigns` job); dates are in the program's time zone, a date-only end running
 * through that day.
 */
import { z } from "zod";
import { DomainError, rpc } from "../db";
import { percentToBasisPoints } from "../money";
import { grantDueRewards, PrizeType, rewardDataOf } from "../rewards";

export const CampaignStatus = z.enum(["draft", "active", "ended", "archived"]);
export type CampaignStatus = z.infer<typeof CampaignStatus>;

const Prize = z.object({ reward_type: PrizeType, reward_data: z.record(z.string(), z.unknown()) });
export type Prize = z.infer<typeof Prize>;

export const Campaign = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  start_date: z.string(),
  end_date: z.string(),
  status: CampaignStatus,
  scheduled: z.boolean(),
  rules: z.object({ bonus_rate_bp: z.number().int().optional(), bonus_points: z.number().int().optional(), product_ids: z.array(z.string()).optional() }),
  prizes: z.object({ top: z.array(Prize).optional(), reach: z.object({ count: z.number().int(), prize: Prize }).nullish() }),
  total_referrals: z.number().int(),
  awarded_at: z.string().nullable(),
  created_at: z.string(),
});
export type Campaign = z.infer<typeof Campaign>;

export const CampaignDetail = Campaign.extend({
  /** top 50: frozen places once awarded, live ranks before; ties to who got there first */
  standings: z.array(
    z.object({ place: z.number().int(), user_id: z.string(), member: z.string(), conversions: z.number().int(), reached_at: z.string().nullable(), prize: Prize.nullable() }),
  ),
});
export type CampaignDetail = z.infer<typeof CampaignDetail>;

/** Prize places the form offers. */
export const PRIZE_PLACES = 3;

/**
 * The creator's campaign form, as strings: name, description, start and end (YYYY-MM-DD in
 * the program's time zone), bonus_rate (percent, ≤ 2 decimals), bonus_points, product_ids
 * (checked products; none = all), prize_<n>_type / prize_<n>_value for places 1…3 (type
 * "" = no prize), reach_count / reach_type / reach_value.
 */
export const CampaignForm = z.object({
  name: z.string().trim().min(1, "Give the campaign a name").max(80, "At most 80 characters"),
  description: z.string().trim().max(1000, "At most 1000 characters").default(""),
  start_date: z.iso.date("Pick a start date"),
  end_date: z.iso.date("Pick an end date"),
  bonus_rate: z.string().trim().default(""),
  bonus_points: z.string().trim().default(""),
  product_ids: z.array(z.string().regex(/^prod_[A-Za-z0-9]{1,40}$/)).max(50).default([]),
  prizes: z.array(z.object({ type: z.union([PrizeType, z.literal("")]), value: z.string() })).max(PRIZE_PLACES).default([]),
  reach_count: z.string().trim().default(""),
  reach_type: z.union([PrizeType, z.literal("")]).default(""),
  reach_value: z.string().default(""),
});
export type CampaignForm = z.infer<typeof CampaignForm>;

/**
 * The form's values as create_campaign's keys, or the first problem in words (for the
 * form; nothing is written then).
 */
export function campaignFromForm(form: CampaignForm, currency: string): { campaign: Record<string, unknown> } | { error: string } {
  const rate = form.bonus_rate === "" ? 0 : percentToBasisPoints(form.bonus_rate);
  if (rate === null) return { error: "The bonus rate is a percent from 0 to 100, like 5 or 2.5" };
  if (form.bonus_points !== "" && !/^\d{1,7}$/.test(form.bonus_points)) return { error: "Bonus points are a whole number" };
  const top: Prize[] = [];
  for (const [i, p] of form.prizes.entries()) {
    if (p.type === "") break;
    const d = rewardDataOf(p.type, p.value, currency);
    if ("error" in d) return { error: `Prize for place ${i + 1}: ${d.error}` };
    top.push({ reward_type: p.type, reward_data: d.data as Record<string, unknown> });
  }
  let reach: { count: number; prize: Prize } | null = null;
  if (form.reach_type !== "") {
    if (!/^\d{1,6}$/.test(form.reach_count) || Number(form.reach_count) < 1) return { error: "Say how many referrals earn the everyone-who-reaches prize" };
    const d = rewardDataOf(form.reach_type, form.reach_value, currency);
    if ("error" in d) return { error: `The everyone-who-reaches prize: ${d.error}` };
    reach = { count: Number(form.reach_count), prize: { reward_type: form.reach_type, reward_data: d.data as Record<string, unknown> } };
  }
  return {
    campaign: {
      name: form.name,
      description: form.description,
      start_date: form.start_date,
      end_date: form.end_date,
      rules: { bonus_rate_bp: rate, bonus_points: form.bonus_points === "" ? 0 : Number(form.bonus_points), product_ids: form.product_ids },
      prizes: { top, reach },
    },
  };
}

/** Create a campaign (a draft unless `scheduled`). DomainError 400 with the reason. */
export function createCampaign(companyId: string, campaign: Record<string, unknown>, scheduled: boolean): Promise<Campaign> {
  return rpc("create_campaign", { p_company_id: companyId, p_campaign: { ...campaign, scheduled } }, Campaign);
}

/**
 * Edit a campaign: any of create_campaign's keys. Before its start anything; while it runs
 * only name, description and end_date (DomainError 409 otherwise); 400 bad values, 404.
 */
export function updateCampaign(companyId: string, campaignId: string, patch: Record<string, unknown>): Promise<Campaign> {
  return rpc("update_campaign", { p_company_id: companyId, p_campaign_id: campaignId, p_campaign: patch }, Campaign);
}

export const CampaignAction = z.enum(["schedule", "unschedule", "end", "archive"]);
export type CampaignAction = z.infer<typeof CampaignAction>;

/**
 * Schedule, unschedule, end now or archive. Ending awards the prizes in the same
 * transaction; they are granted right after (money and points in SQL, codes through Whop).
 * DomainError 404, 409 (the action doesn't apply to its status).
 */
export async function setCampaignStatus(companyId: string, campaignId: string, action: CampaignAction): Promise<Campaign> {
  const c = await rpc("set_campaign_status", { p_company_id: companyId, p_campaign_id: campaignId, p_action: action }, Campaign);
  if (action === "end" || action === "archive") await grantDueRewards(companyId);
  return c;
}

/** One page (≤ 50) of a company's campaigns, newest start first, by live status when given. */
export function listCampaigns(companyId: string, filter: { status?: CampaignStatus; after?: string }) {
  return rpc("list_campaigns", { p_company_id: companyId, p_filter: filter }, z.object({ rows: z.array(Campaign), next: z.string().nullable() }));
}

/** One campaign with its standings (top 50). DomainError 404 (also for another company's). */
export function getCampaign(companyId: string, campaignId: string): Promise<CampaignDetail> {
  if (!z.uuid().safeParse(campaignId).success) return Promise.reject(new DomainError(404, "No such campaign"));
  return rpc("get_campaign", { p_company_id: companyId, p_campaign_id: campaignId }, CampaignDetail);
}

/**
 * The `campaigns` job: stored statuses follow the dates, ended campaigns are awarded once
 * (advance_campaigns), and the prizes are granted. Returns {moved, awarded, granted, failed}.
 */
export async function advanceCampaigns(): Promise<Record<string, number>> {
  const r = await rpc("advance_campaigns", {}, z.object({ moved: z.number().int(), awarded: z.number().int() }));
  return { ...r, ...(await grantDueRewards()) };
}

