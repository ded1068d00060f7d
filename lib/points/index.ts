/**
 * The points economy (SQL: add_points, grant_points, create_points_item,
 * redeem_points_item, settle_redemption, expire_points). Points live in the transactions
 * ledger (kind 'points', with a points_type) with a balance cache updated in the same
 * transaction; earning happens in apply_payment_succeeded.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { rpc } from "../db";
import { RewardType } from "../rewards";
import { whop } from "../whop/client";

/** What a points-shop item grants: a reward type the member gets at once (never points). */
export const GrantType = RewardType.extract(["discount", "product_unlock", "custom"]);

/** The creator's "new item" form. discount: percent off; product_unlock: a plan id. */
export const ItemForm = z
  .object({
    name: z.string().trim().min(1, "Give the item a name").max(80, "At most 80 characters"),
    cost_points: z.coerce.number({ message: "Cost is a whole number of points" }).int("Cost is a whole number of points").min(1, "Cost is at least 1 point").max(10_000_000),
    grant_type: GrantType,
    percent_off: z.string().optional(),
    plan_id: z.string().trim().optional(),
    note: z.string().trim().max(200).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.grant_type === "discount" && !/^(100|[1-9]\d?)$/.test(v.percent_off ?? "")) {
      ctx.addIssue({ code: "custom", path: ["percent_off"], message: "Percent off is a whole number from 1 to 100" });
    }
    if (v.grant_type === "product_unlock" && !/^plan_[A-Za-z0-9]+$/.test(v.plan_id ?? "")) {
      ctx.addIssue({ code: "custom", path: ["plan_id"], message: "Free access needs a Whop plan id (plan_…)" });
    }
  });

export const PointsItem = z.object({
  id: z.uuid(),
  name: z.string(),
  cost_points: z.number().int(),
  grant_type: GrantType,
  grant_config: z.record(z.string(), z.unknown()),
});

export function createPointsItem(companyId: string, form: z.infer<typeof ItemForm>) {
  const grant_config =
    form.grant_type === "discount"
      ? { percent_off: Number(form.percent_off) }
      : form.grant_type === "product_unlock"
        ? { plan_id: form.plan_id }
        : { note: form.note ?? "" };
  return rpc(
    "create_points_item",
    { p_company_id: companyId, p_item: { name: form.name, cost_points: form.cost_points, grant_type: form.grant_type, grant_config } },
    PointsItem,
  );
}

export const GrantForm = z.object({
  member: z.string().trim().min(1, "Enter a member's username or user id"),
  points: z
    .string()
    .trim()
    .regex(/^-?\d{1,9}$/, "Points are a whole number, negative to deduct")
    .transform(Number)
    .refine((n) => n !== 0, "Grant or deduct at least one point"),
  reason: z.string().trim().min(1, "Give a reason").max(200),
});

/**
 * Grant (positive) or deduct (negative) points with a reason; `member` is a user id or a
 * username. Returns the new balance. DomainError 404 unknown member, 400 below zero.
 */
export function grantPoints(companyId: string, member: string, delta: number, reason: string): Promise<number> {
  return rpc("grant_points", { p_company_id: companyId, p_member: member, p_delta: delta, p_reason: reason }, z.number().int());
}

const Redemption = z.object({ id: z.uuid(), status: z.enum(["pending", "granted", "claimed", "failed"]), result: z.unknown(), error: z.string().nullable() });

/**
 * A member redeems an item (DomainError 400 when the balance is too low). A promo code or
 * free access is created at once through Whop `promoCodes.create` (100% off for free
 * access) and the redemption is granted with the code; if Whop refuses, it fails and the
 * points come back. Custom items stay pending for the creator.
 */
export async function redeemItem(companyId: string, userId: string, itemId: string) {
  const { redemption, item } = await rpc(
    "redeem_points_item",
    { p_company_id: companyId, p_user_id: userId, p_item_id: itemId },
    z.object({ redemption: Redemption, item: PointsItem }),
  );
  if (item.grant_type === "custom") return redemption;
  const config = item.grant_config as { percent_off?: number; plan_id?: string };
  const code = `RF${randomBytes(5).toString("hex").toUpperCase()}`;
  try {
    await whop().promoCodes.create({
      code,
      company_id: companyId,
      amount_off: item.grant_type === "product_unlock" ? 100 : (config.percent_off ?? 0),
      promo_type: "percentage",
      base_currency: "usd",
      new_users_only: false,
      promo_duration_months: 1,
      one_per_customer: true,
      stock: 1,
      plan_ids: config.plan_id ? [config.plan_id] : null,
    }, { headers: { "Idempotency-Key": `redemption-${redemption.id}` } });
  } catch (err) {
    return rpc(
      "settle_redemption",
      { p_company_id: companyId, p_redemption_id: redemption.id, p_status: "failed", p_result: null, p_error: (err as Error).message },
      Redemption,
    );
  }
  return rpc(
    "settle_redemption",
    { p_company_id: companyId, p_redemption_id: redemption.id, p_status: "granted", p_result: { promo_code: code }, p_error: null },
    Redemption,
  );
}

/** The creator gave a custom reward: pending → granted. DomainError 404/409. */
export function fulfilRedemption(companyId: string, redemptionId: string) {
  return rpc(
    "settle_redemption",
    { p_company_id: companyId, p_redemption_id: redemptionId, p_status: "granted", p_result: { fulfilled: true }, p_error: null },
    Redemption,
  );
}

/** Job: expire points older than the program's points_expiry_days. Returns points expired. */
export function expirePoints(): Promise<number> {
  return rpc("expire_points", {}, z.number().int());
}

export const RewardsAdmin = z.object({
  items: z.array(z.object({ id: z.uuid(), name: z.string(), cost_points: z.number().int(), grant_type: GrantType })),
  /** custom rewards waiting for the creator, oldest first (≤ 50) */
  redemptions: z.array(z.object({ id: z.uuid(), member: z.string(), item: z.string(), note: z.string().nullable(), created_at: z.string() })),
});
export type RewardsAdmin = z.infer<typeof RewardsAdmin>;

/** The creator's Rewards section: active items and custom redemptions to fulfil. */
export function getRewardsAdmin(companyId: string): Promise<RewardsAdmin> {
  return rpc("get_rewards_admin", { p_company_id: companyId }, RewardsAdmin);
}
