/**
 * Campaigns (table `campaigns`; see docs/architecture.md, "Campaigns and rewards"). SQL: create_campaign,
 * update_campaign, set_campaign_status, list_campaigns, get_campaign, advance_campaigns,
 * award_campaign_prizes (supabase/schemas/50_campaigns.sql, where a conversion joins the campaign
 * active then, its bonus rate and points apply, and the standings are kept).
 *
 * Status draft → active → ended → archived follows the dates (derived on every read, moved
 * by the `campaigns` job); dates are in the program's time zone, a date-only end running
 * through that day. Units: rules.bonus_rate_bp basis points (added to the level-1 rate),
 * rules.bonus_points points per counted conversion, rules.product_ids Whop prod_… (empty =
 * all); prizes {top: [prize per place, place 1 first], reach: {count, prize} | null}, a
 * prize being {reward_type, reward_data} as in lib/rewards (commission amount_cents in the
 * program currency's minor units). Errors are DomainError 400 (bad value, the reason in
 * words), 404 (no such campaign for this company), 409 (not in its current status).
 */
import { z } from "zod";
import { DomainError, rpc } from "../db";
import { basisPointsToPercent, centsToDecimal, percentToBasisPoints } from "../money";
import { grantDueRewards, PrizeType, rewardDataOf, type RewardData } from "../rewards";
import { listCompanyPlans } from "../whop/gateway";

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
 * the program's time zone; the campaign runs through the end day), bonus_rate (percent,
 * ≤ 2 decimals → basis points, exactly), bonus_points (whole), product_ids (checked
 * products; none = all), prizes[i] {type, value} for places 1…3 (type "" = no prize),
 * reach_count / reach_type / reach_value (everyone reaching that many referrals). A prize's
 * value by type: commission an amount in the program currency (→ cents), points whole
 * points, discount percent off 1–100, product_unlock one of the company's plan ids,
 * custom a note.
 */
export const CampaignForm = z.object({
  name: z.string().trim().min(1, "Give the campaign a name").max(80, "At most 80 characters"),
  description: z.string().trim().max(1000, "At most 1000 characters").default(""),
  start_date: z.iso.date("Pick a start date"),
  end_date: z.iso.date("Pick an end date"),
  bonus_rate: z.string().trim().default(""),
  bonus_points: z.string().trim().default(""),
  product_ids: z.array(z.string().regex(/^prod_[A-Za-z0-9]{1,40}$/, "Pick products from the list")).max(50).default([]),
  prizes: z
    .array(z.object({ type: z.union([PrizeType, z.literal("")], "Pick a prize from the list"), value: z.string() }))
    .max(PRIZE_PLACES)
    .default([]),
  reach_count: z.string().trim().default(""),
  reach_type: z.union([PrizeType, z.literal("")], "Pick a prize from the list").default(""),
  reach_value: z.string().default(""),
});
export type CampaignForm = z.infer<typeof CampaignForm>;
/** The form's values before parsing (what a page fills in as defaults). */
export type CampaignFormValues = z.input<typeof CampaignForm>;

/**
 * The company's Whop catalog the form offers: its plans (a free-access prize is one of
 * them) and their products (the eligible-product checkboxes), from listCompanyPlans.
 */
export interface Catalog {
  plans: { id: string; title: string; product: string | null }[];
  products: { id: string; title: string }[];
}

/** The catalog, or null when Whop can't be read now (the form then offers no plans or products). */
export async function companyCatalog(companyId: string): Promise<Catalog | null> {
  try {
    const plans = await listCompanyPlans(companyId);
    const products = new Map<string, string>();
    for (const p of plans) if (p.product_id && !products.has(p.product_id)) products.set(p.product_id, p.product ?? p.product_id);
    return {
      plans: plans.map((p) => ({ id: p.id, title: p.title, product: p.product })),
      products: [...products].map(([id, title]) => ({ id, title })),
    };
  } catch {
    return null;
  }
}

/**
 * The form's values as create_campaign's keys {name, description, start_date, end_date,
 * rules, prizes}, or the first problem in words (for the form; nothing is written then).
 * Plans and products are checked against `catalog` when given (see checkCatalog).
 */
export function campaignFromForm(form: CampaignForm, currency: string, catalog?: Catalog | null): { campaign: Record<string, unknown> } | { error: string } {
  const rate = form.bonus_rate === "" ? 0 : percentToBasisPoints(form.bonus_rate);
  if (rate === null) return { error: "The bonus rate is a percent from 0 to 100, like 5 or 2.5" };
  if (form.bonus_points !== "" && !/^\d{1,7}$/.test(form.bonus_points)) return { error: "Bonus points are a whole number" };
  const top: Prize[] = [];
  for (const [i, p] of form.prizes.entries()) {
    if (p.type === "") {
      if (form.prizes.slice(i + 1).some((q) => q.type !== "")) return { error: `Give place ${i + 1} a prize before the places after it` };
      break;
    }
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
  const campaign = {
    name: form.name,
    description: form.description,
    start_date: form.start_date,
    end_date: form.end_date,
    rules: { bonus_rate_bp: rate, bonus_points: form.bonus_points === "" ? 0 : Number(form.bonus_points), product_ids: form.product_ids },
    prizes: { top, reach },
  };
  const bad = catalog === undefined ? null : checkCatalog(campaign, catalog);
  return bad ? { error: bad } : { campaign };
}

/**
 * The plans and products a campaign (or a patch of one) names must be the company's:
 * eligible products from its catalog, a free-access prize one of its plans. Returns the
 * problem in words, or null. With no catalog (Whop unreadable) any reference is refused.
 */
export function checkCatalog(campaign: { rules?: unknown; prizes?: unknown }, catalog: Catalog | null): string | null {
  const rules = campaign.rules as Campaign["rules"] | undefined;
  const prizes = campaign.prizes as Campaign["prizes"] | undefined;
  const products = rules?.product_ids ?? [];
  const plans = [...(prizes?.top ?? []), ...(prizes?.reach ? [prizes.reach.prize] : [])]
    .filter((p) => p.reward_type === "product_unlock")
    .map((p) => String(p.reward_data.plan_id));
  if (!products.length && !plans.length) return null;
  if (!catalog) return "Whop's list of your products and plans couldn't be read just now; try again in a moment";
  if (products.some((id) => !catalog.products.some((p) => p.id === id))) return "Eligible products must be this company's products";
  if (plans.some((id) => !catalog.plans.some((p) => p.id === id))) return "Free access must be to one of this company's plans";
  return null;
}

/**
 * Free access (a milestone's, a challenge's or a tier's plan) must be to one of the company's
 * own plans, read through the Whop API (companyCatalog). Returns the problem in words, or null.
 */
export async function checkFreePlans(companyId: string, planIds: string[]): Promise<string | null> {
  if (!planIds.length) return null;
  const top = planIds.map((plan_id) => ({ reward_type: "product_unlock", reward_data: { plan_id } }));
  return checkCatalog({ prizes: { top } }, await companyCatalog(companyId));
}

/** A prize's data as the value the form shows for it (the inverse of rewardDataOf). */
function prizeValue(p: Prize, currency: string): string {
  const d = p.reward_data as RewardData;
  switch (p.reward_type) {
    case "commission":
      return d.amount_cents != null ? centsToDecimal(d.amount_cents, currency) : "";
    case "discount":
      return d.percent_off != null ? String(d.percent_off) : "";
    case "product_unlock":
      return d.plan_id ?? "";
    case "points":
      return d.points != null ? String(d.points) : "";
    case "custom":
      return d.note ?? "";
  }
}

/** "YYYY-MM-DD" of an instant in a time zone. */
const localDate = (iso: string, tz: string) => new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date(iso));

/** The last day a campaign runs (its end is exclusive), as an instant inside that day. */
export const lastDayOf = (c: Pick<Campaign, "end_date">) => new Date(Date.parse(c.end_date) - 1).toISOString();

/** A campaign as the form's values (dates as local days in `tz`, the end day inclusive). */
export function campaignToForm(c: Campaign, tz: string, currency: string): CampaignFormValues {
  const top = c.prizes.top ?? [];
  return {
    name: c.name,
    description: c.description ?? "",
    start_date: localDate(c.start_date, tz),
    end_date: localDate(lastDayOf(c), tz),
    bonus_rate: c.rules.bonus_rate_bp ? basisPointsToPercent(c.rules.bonus_rate_bp) : "",
    bonus_points: c.rules.bonus_points ? String(c.rules.bonus_points) : "",
    product_ids: c.rules.product_ids ?? [],
    prizes: Array.from({ length: PRIZE_PLACES }, (_, i) => (top[i] ? { type: top[i].reward_type, value: prizeValue(top[i], currency) } : { type: "", value: "" })),
    reach_count: c.prizes.reach ? String(c.prizes.reach.count) : "",
    reach_type: c.prizes.reach?.prize.reward_type ?? "",
    reach_value: c.prizes.reach ? prizeValue(c.prizes.reach.prize, currency) : "",
  };
}

/** Which parts of the form a campaign's status lets the creator edit. */
export function editableFields(c: Pick<Campaign, "status">): "all" | "running" | "none" {
  return c.status === "draft" ? "all" : c.status === "active" ? "running" : "none";
}

/**
 * The edit form's values against the campaign as it is: update_campaign's patch with only
 * what changed (so an unchanged end that has a time of day keeps it), or the problem in
 * words. `submitted` holds the fields the form had; the rest keep the campaign's values.
 * A running campaign's form has only name, description and end date.
 */
export function campaignPatch(
  c: Campaign,
  submitted: Partial<CampaignFormValues>,
  tz: string,
  currency: string,
  catalog: Catalog | null,
): { patch: Record<string, unknown> } | { error: string } {
  const editable = editableFields(c);
  if (editable === "none") return { error: `An ${c.status} campaign can't be edited` };
  const before = campaignToForm(c, tz, currency);
  const allowed = editable === "all" ? submitted : { name: submitted.name, description: submitted.description, end_date: submitted.end_date };
  const parsed = CampaignForm.safeParse({ ...before, ...Object.fromEntries(Object.entries(allowed).filter(([, v]) => v !== undefined)) });
  if (!parsed.success) return { error: parsed.error.issues[0].message };
  const f = parsed.data;
  const patch: Record<string, unknown> = {};
  if (f.name !== before.name) patch.name = f.name;
  if (f.description !== before.description) patch.description = f.description;
  if (f.start_date !== before.start_date) patch.start_date = f.start_date;
  if (f.end_date !== before.end_date) patch.end_date = f.end_date;
  if (editable === "all") {
    const made = campaignFromForm(f, currency);
    if ("error" in made) return made;
    // the terms as the form would have sent them unchanged (the stored ones if the form can't show them)
    const was = CampaignForm.safeParse(before);
    const old = was.success ? campaignFromForm(was.data, currency) : null;
    const oldTerms = old && "campaign" in old ? old.campaign : { rules: c.rules, prizes: c.prizes };
    for (const k of ["rules", "prizes"] as const) if (JSON.stringify(made.campaign[k]) !== JSON.stringify(oldTerms[k])) patch[k] = made.campaign[k];
  }
  const bad = checkCatalog(patch, catalog);
  return bad ? { error: bad } : { patch };
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

