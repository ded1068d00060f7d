/**
 * Streaks, tiers and surprise drops (supabase/schemas/60_gamification.sql;
 * tables referral_streaks, referral_tiers, referral_rewards), on the test Postgres
 * through the typed `rpc` the app uses, payments made by webhook data through
 * process_webhook_event.
 *
 * Covered as a member would notice it: the streak's multiplier on the commission to the cent
 * (rounded once, half down), its cap, the window's exact edge and its local-time end across a
 * DST change, the expiry job; tier bonuses on every level-1 payment, tiers that never drop;
 * drops drawn from the payment's id (the same on redelivery, once per conversion, none while
 * held); milestone points logged as credits; settings refused in plain words with nothing
 * written; the settings preview.
 */
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { call, codeOf, expectDomainError, ids, pay, paymentData, pool, sqlDb, sqlRows as rows, uid, webhook } from "../helpers";
import * as world from "../world";
import { inject } from "vitest";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

afterAll(async () => {
  await sqlDb().close();
});

/** A fresh company (world.QUIET), 20 % commissions and no points unless `settings` say otherwise. */
const company = (settings: Record<string, unknown> = {}) =>
  world.company({
    commission_rate_bp: 2000,
    points_welcome: 0,
    points_first_payment: 0,
    points_recurring: 0,
    points_l2: 0,
    ...settings,
  });
/** A new referee of `referrer` pays `total` dollars (world.buy; the code made from the referrer's id); returns the payment's data. */
const buy = async (companyId: string, referrer: string, total = 10, extra: Record<string, unknown> = {}) =>
  (await world.buy(companyId, { via: referrer, viaUsername: referrer.slice(5, 12), total, extra })).data;
/** The level-1 commission of a payment: [amount in cents, rate_bp, tier_bonus_bp, streak_multiplier]. */
async function level1(companyId: string, paymentId: string) {
  const [c] = await rows<Json>(
    `select amount_cents::int as amount, rate_bp, tier_bonus_bp, streak_multiplier::text as multiplier from public.commissions
     where company_id = $1 and payment_id = $2 and level = 1 and kind = 'commission'`,
    [companyId, paymentId],
  );
  return c ? [c.amount, c.rate_bp, c.tier_bonus_bp, c.multiplier] : null;
}
const gamification = (companyId: string, userId: string): Promise<Json> =>
  call("get_member_gamification", { p_company_id: companyId, p_user_id: userId });
const streakRow = async (companyId: string, userId: string) =>
  (await rows<Json>(`select * from public.referral_streaks where company_id = $1 and user_id = $2`, [companyId, userId]))[0];
/** The drop draw, as the migration states it: 10 000 buckets from md5("<company>:<payment id>"). */
const bucket = (companyId: string, paymentId: string) =>
  Number(BigInt(`0x${createHash("md5").update(`${companyId}:${paymentId}`).digest("hex").slice(0, 15)}`) % 10000n);

describe("streaks", () => {
  it("each conversion within the window steps the multiplier up to the cap; the commission is multiplied, rounded once half down", async () => {
    const t = await company({ streaks_enabled: true, streak_step_pct: 25, streak_cap_pct: 50, commission_rate_bp: 1500 });
    const amounts = [];
    for (let i = 0; i < 4; i++) amounts.push(await level1(t.company, (await buy(t.company, t.referrer)).id));
    // $10 at 15 % = $1.50; ×1.25 = $1.875 → $1.87 (half down); ×1.5 = $2.25, and the cap holds at the 4th
    expect(amounts).toEqual([
      [150, 1500, 0, "1.00"],
      [187, 1500, 0, "1.25"],
      [225, 1500, 0, "1.50"],
      [225, 1500, 0, "1.50"],
    ]);
    const g = await gamification(t.company, t.referrer);
    expect([g.streaks_enabled, g.streak.active, g.streak.current_streak, g.streak.longest_streak, g.streak.multiplier, g.streak.next_multiplier, g.streak.days_left]).toEqual([
      true, true, 4, 4, 1.5, 1.5, 7,
    ]);
    // a renewal of a streak conversion is not multiplied (the streak pays on the converting payment)
    const first = (await rows<Json>(`select user_id from public.payments where company_id = $1 order by created_at limit 1`, [t.company]))[0];
    const renewal = paymentData({ user: first.user_id, total: 10 });
    await pay(t.company, renewal);
    expect(await level1(t.company, renewal.id)).toEqual([150, 1500, 0, "1.00"]);
  });

  it("off by default: the streak is kept but commissions are not multiplied", async () => {
    const t = await company();
    const a = await buy(t.company, t.referrer);
    const b = await buy(t.company, t.referrer);
    expect([await level1(t.company, a.id), await level1(t.company, b.id)]).toEqual([
      [200, 2000, 0, "1.00"],
      [200, 2000, 0, "1.00"],
    ]);
    expect((await streakRow(t.company, t.referrer)).current_streak).toBe(2);
    expect((await gamification(t.company, t.referrer)).streaks_enabled).toBe(false);
  });

  it("a conversion exactly at the expiry continues the streak; a microsecond later starts a new one", async () => {
    const t = await company({ streaks_enabled: true });
    await buy(t.company, t.referrer);
    const code = await codeOf(t.company, t.referrer);
    // the streak's end set to the transaction's now() (or a microsecond before), then a payment, in one transaction
    const payAt = async (offset: string) => {
      const client = await pool(inject("sqlDbUrl")).connect();
      try {
        await client.query("begin");
        await client.query(`update public.referral_streaks set streak_expires_at = now() - $3::interval where company_id = $1 and user_id = $2`, [
          t.company,
          t.referrer,
          offset,
        ]);
        const data = paymentData({ user: uid("user_b"), total: 10, code });
        await client.query(`select public.process_webhook_event($1, 'payment.succeeded', $2, $3)`, [uid("evt_"), t.company, data]);
        await client.query("commit");
        return data.id;
      } finally {
        client.release();
      }
    };
    expect(await level1(t.company, await payAt("0"))).toEqual([220, 2000, 0, "1.10"]);
    expect((await streakRow(t.company, t.referrer)).current_streak).toBe(2);
    expect(await level1(t.company, await payAt("1 microsecond"))).toEqual([200, 2000, 0, "1.00"]);
    const s = await streakRow(t.company, t.referrer);
    expect([s.current_streak, s.longest_streak, s.bonus_multiplier]).toEqual([1, 2, "1.00"]);
  });

  it("the window ends at the same local time 7 days later, across a DST change", async () => {
    const at = (tz: string, ts: string) => call("streak_expiry", { p_timezone: tz, p_days: 7, p_at: ts });
    // New York leaves DST on 1 Nov 2026: 30 Oct 12:00 EDT (16:00Z) → 6 Nov 12:00 EST (17:00Z)
    expect(new Date(await at("America/New_York", "2026-10-30T16:00:00Z")).toISOString()).toBe("2026-11-06T17:00:00.000Z");
    expect(new Date(await at("UTC", "2026-10-30T16:00:00Z")).toISOString()).toBe("2026-11-06T16:00:00.000Z");
    // the member's days left count local days
    const t = await company({ streaks_enabled: true });
    await call("set_program_timezone", { p_company_id: t.company, p_timezone: "Pacific/Kiritimati" });
    await buy(t.company, t.referrer);
    expect((await gamification(t.company, t.referrer)).streak.days_left).toBe(7);
  });

  it("the expiry job ends passed streaks once; the member then sees no live streak and the next conversion starts at ×1", async () => {
    const t = await company({ streaks_enabled: true });
    await buy(t.company, t.referrer);
    await buy(t.company, t.referrer);
    await rows(`update public.referral_streaks set streak_expires_at = now() - interval '1 second' where company_id = $1`, [t.company]);
    // a member reading before the job already sees it over
    expect((await gamification(t.company, t.referrer)).streak).toMatchObject({ active: false, current_streak: 0, multiplier: 1, longest_streak: 2 });
    expect(await call("expire_streaks", {})).toBeGreaterThanOrEqual(1);
    expect((await streakRow(t.company, t.referrer)).streak_active).toBe(false);
    const again = await rows<Json>(`select public.expire_streaks() as n, (select streak_active from public.referral_streaks where company_id = $1) as a`, [t.company]);
    expect(again[0]).toEqual({ n: 0, a: false });
    const next = await buy(t.company, t.referrer);
    expect(await level1(t.company, next.id)).toEqual([200, 2000, 0, "1.00"]);
    expect((await streakRow(t.company, t.referrer)).streak_active).toBe(true);
  });

  it("a held referral neither continues the streak nor is multiplied; approved later, it counts then", async () => {
    const t = await company({ streaks_enabled: true, fraud_mode: "hold", fraud_hold_score: 20 });
    await buy(t.company, t.referrer);
    const held = await buy(t.company, t.referrer, 10, { referly_signals: { email: "x@mailinator.com", email_disposable: true } });
    expect(await level1(t.company, held.id)).toEqual([200, 2000, 0, "1.00"]);
    expect((await streakRow(t.company, t.referrer)).current_streak).toBe(1);
    const [ref] = await rows<Json>(`select referral_id from public.payments where company_id = $1 and payment_id = $2`, [t.company, held.id]);
    await call("decide_referral", { p_company_id: t.company, p_referral_id: ref.referral_id, p_decision: "approve", p_reason: "ok", p_actor: "user_admin1" });
    expect((await streakRow(t.company, t.referrer)).current_streak).toBe(2);
  });
});

describe("tiers", () => {
  const tiers = [
    { name: "Bronze", min_conversions: 0, bonus_pct: 0 },
    { name: "Silver", min_conversions: 2, bonus_pct: 2.5 },
    { name: "Gold", min_conversions: 3, bonus_pct: 5 },
  ];

  it("the tier bonus is added to the level-1 rate of every payment, from the conversion that reaches the tier", async () => {
    const t = await company({ tiers_enabled: true, tiers, mlm_enabled: true, max_level: 2, upper_level_rates_bp: [1000, 0, 0, 0] });
    // the referrer was referred by `other`: level 2 never gets a tier bonus
    const otherCode = await codeOf(t.company, t.other, "other");
    await call("claim_referral", { p_company_id: t.company, p_user_id: t.referrer, p_code: otherCode, p_username: "ref" });
    const a = await buy(t.company, t.referrer, 12.34);
    const b = await buy(t.company, t.referrer, 12.34);
    // $12.34 × 20 % = 246.8 → 247; × 22.5 % = 277.65 → 278 (half down only at .5); level 2 at 10 % = 123.4 → 123
    expect([await level1(t.company, a.id), await level1(t.company, b.id)]).toEqual([
      [247, 2000, 0, "1.00"],
      [278, 2250, 250, "1.00"],
    ]);
    const [l2] = await rows<Json>(`select amount_cents::int as a, tier_bonus_bp from public.commissions where payment_id = $1 and level = 2`, [b.id]);
    expect(l2).toEqual({ a: 123, tier_bonus_bp: 0 });
    // a renewal of the first referee earns Silver's bonus too
    const [first] = await rows<Json>(`select user_id from public.payments where payment_id = $1`, [a.id]);
    const renewal = paymentData({ user: first.user_id, total: 12.34 });
    await pay(t.company, renewal);
    expect(await level1(t.company, renewal.id)).toEqual([278, 2250, 250, "1.00"]);
    const g = await gamification(t.company, t.referrer);
    expect([g.tier.name, g.next_tier.name, g.next_tier.needs, g.conversions]).toEqual(["Silver", "Gold", 1, 2]);
  });

  it("a member never drops a tier: a full refund lowers the count, not the tier", async () => {
    const t = await company({ tiers_enabled: true, tiers });
    await buy(t.company, t.referrer);
    const b = await buy(t.company, t.referrer);
    await webhook(uid("evt_"), "refund.created", t.company, { id: uid("rfnd_"), amount: 10, status: "succeeded", payment: { id: b.id } });
    const g = await gamification(t.company, t.referrer);
    expect([g.conversions, g.tier.name]).toEqual([1, "Silver"]);
    // and the next conversion still earns Silver's bonus: $10 × 22.5 %
    expect(await level1(t.company, (await buy(t.company, t.referrer)).id)).toEqual([225, 2250, 250, "1.00"]);
    // at 2 again (not a new best), then 3 → Gold
    expect((await gamification(t.company, t.referrer)).tier.name).toBe("Silver");
    await buy(t.company, t.referrer);
    expect((await gamification(t.company, t.referrer)).tier.name).toBe("Gold");
  });

  it("tiers off: no bonus, but the member's tier is kept for when they are turned on", async () => {
    const t = await company({ tiers });
    await buy(t.company, t.referrer);
    const b = await buy(t.company, t.referrer);
    expect(await level1(t.company, b.id)).toEqual([200, 2000, 0, "1.00"]);
    await call("update_program_settings", { p_company_id: t.company, p_settings: { tiers_enabled: true } });
    expect(await level1(t.company, (await buy(t.company, t.referrer)).id)).toEqual([250, 2500, 500, "1.00"]);
  });

  it("tier and streak together, capped at 100 %; a renamed list renames members' tiers", async () => {
    const t = await company({ commission_rate_bp: 9800, tiers_enabled: true, tiers, streaks_enabled: true });
    await buy(t.company, t.referrer);
    const b = await buy(t.company, t.referrer);
    // 98 % + 2.5 % is capped at 100 %: tier bonus 2 %; ×1.1 → $11.00
    expect(await level1(t.company, b.id)).toEqual([1100, 10000, 200, "1.10"]);
    await call("update_program_settings", {
      p_company_id: t.company,
      p_settings: { tiers: [{ name: "Rookie", min_conversions: 0, bonus_pct: 0 }, { name: " Pro ", min_conversions: 2, bonus_pct: 1 }] },
    });
    const [row] = await rows<Json>(`select current_tier, best_conversions from public.referral_tiers where company_id = $1`, [t.company]);
    expect(row).toEqual({ current_tier: "Pro", best_conversions: 2 });
  });

  it("a tier's free plan is requested once, on first reaching it, for lib/rewards to grant", async () => {
    const t = await company({
      tiers: [
        { name: "Bronze", min_conversions: 0, bonus_pct: 0 },
        { name: "Silver", min_conversions: 2, bonus_pct: 0, plan_id: "plan_silverperk" },
        { name: "Gold", min_conversions: 3, bonus_pct: 0, plan_id: "plan_goldperk" },
      ],
    });
    await buy(t.company, t.referrer);
    const perks = () =>
      rows<Json>(`select tier, name, reward_type, reward_data, status, requested_at is not null as requested from public.reward_redemptions
                  where company_id = $1 order by tier desc`, [t.company]);
    expect(await perks()).toEqual([]);
    const b = await buy(t.company, t.referrer);
    expect(await perks()).toEqual([
      { tier: "Silver", name: "Silver tier", reward_type: "product_unlock", reward_data: { plan_id: "plan_silverperk" }, status: "pending", requested: true },
    ]);
    // back to 1 by a refund, then 2 again: not granted twice; 3 → Gold's
    await webhook(uid("evt_"), "refund.created", t.company, { id: uid("rfnd_"), amount: 10, status: "succeeded", payment: { id: b.id } });
    await buy(t.company, t.referrer);
    expect((await perks()).map((p: Json) => p.tier)).toEqual(["Silver"]);
    await buy(t.company, t.referrer);
    expect((await perks()).map((p: Json) => p.tier)).toEqual(["Silver", "Gold"]);
    // due for the Whop grant (the rewards job and the webhook's after-commit grant read this)
    const due = await call("due_reward_grants", { p_limit: 50, p_company_id: t.company });
    const ids = await rows<Json>(`select id from public.reward_redemptions where company_id = $1 and tier is not null order by id`, [t.company]);
    expect(due.map((d: Json) => d.id).sort()).toEqual(ids.map((r) => r.id));
    expect(due.map((d: Json) => d.reward_data.plan_id).sort()).toEqual(["plan_goldperk", "plan_silverperk"]);
    await expectDomainError(
      call("update_program_settings", { p_company_id: t.company, p_settings: { tiers: [{ name: "A", min_conversions: 0, bonus_pct: 0, plan_id: "prod_x" }] } }),
      400,
      /A: free access needs a Whop plan id/,
    );
  });

  it("tiers by lifetime commissions: a member moves up with what they have earned, never down; the next payment earns the bonus", async () => {
    const byMoney = [
      { name: "Bronze", min_commissions_cents: 0, bonus_pct: 0 },
      { name: "Silver", min_commissions_cents: 350, bonus_pct: 5 },
    ];
    const t = await company({ tiers_enabled: true, tiers_by: "commissions", tiers: byMoney });
    const a = await buy(t.company, t.referrer); // $2.00 earned
    expect((await gamification(t.company, t.referrer)).next_tier).toMatchObject({ name: "Silver", needs: 150 });
    const b = await buy(t.company, t.referrer); // $4.00 earned: Silver from here
    expect([await level1(t.company, a.id), await level1(t.company, b.id)]).toEqual([
      [200, 2000, 0, "1.00"],
      [200, 2000, 0, "1.00"],
    ]);
    const g = await gamification(t.company, t.referrer);
    expect([g.tiers_by, g.tier.name, g.next_tier]).toEqual(["commissions", "Silver", null]);
    // a refund takes $2.00 back: still Silver; the next payment earns 25 %
    await webhook(uid("evt_"), "refund.created", t.company, { id: uid("rfnd_"), amount: 10, status: "succeeded", payment: { id: b.id } });
    expect(await level1(t.company, (await buy(t.company, t.referrer)).id)).toEqual([250, 2500, 500, "1.00"]);
    const [row] = await rows<Json>(`select current_tier, best_conversions, best_commissions_cents::int as c from public.referral_tiers where company_id = $1`, [t.company]);
    expect(row).toEqual({ current_tier: "Silver", best_conversions: 2, c: 450 });
    // switching what tiers count needs a list with that threshold, and renames from the bests
    await expectDomainError(call("update_program_settings", { p_company_id: t.company, p_settings: { tiers_by: "conversions" } }), 400, /min_conversions/);
    await call("update_program_settings", { p_company_id: t.company, p_settings: { tiers_by: "conversions", tiers } });
    expect((await gamification(t.company, t.referrer)).tier.name).toBe("Silver"); // best 2 counted conversions: Silver at 2
  });

  it("settings refuse a bad tiers list in plain words and write nothing", async () => {
    const t = await company();
    const bad: [unknown, RegExp][] = [
      [[], /1 to 10/],
      [[{ name: "A", min_conversions: 1, bonus_pct: 0 }], /first tier starts at 0/],
      [[{ name: "A", min_conversions: 0, bonus_pct: 0 }, { name: "B", min_conversions: 0, bonus_pct: 1 }], /B needs more conversions/],
      [[{ name: "A", min_conversions: 0, bonus_pct: 0 }, { name: "A", min_conversions: 2, bonus_pct: 1 }], /Two tiers are called "A"/],
      [[{ name: "A", min_conversions: 0, bonus_pct: 100.001 }], /percent from 0 to 100/],
      [[{ name: "A", min_conversions: 0, bonus_pct: 0, perk: "x" }], /Each tier has a name/],
      [[{ name: "", min_conversions: 0, bonus_pct: 0 }], /Each tier has a name/],
      ["Gold", /1 to 10/],
    ];
    for (const [tiersValue, message] of bad) {
      await expectDomainError(call("update_program_settings", { p_company_id: t.company, p_settings: { tiers: tiersValue, hold_days: 99 } }), 400, message);
    }
    const [p] = await rows<Json>(`select hold_days, tiers->1->>'name' as silver from public.programs where company_id = $1`, [t.company]);
    expect(p).toEqual({ hold_days: 0, silver: "Silver" });
    await expectDomainError(call("update_program_settings", { p_company_id: t.company, p_settings: { streak_window_days: 0 } }), 400, /streak window days/);
    await expectDomainError(call("update_program_settings", { p_company_id: t.company, p_settings: { drop_chance_pct: 101 } }), 400, /drop chance pct/);
  });

  it("the preview shows what a payment earns at each tier and each streak step, as the payment path computes it", async () => {
    const t = await company({ commission_rate_bp: 1500, streak_step_pct: 25, streak_cap_pct: 50 });
    const p = await call("gamification_preview", { p_company_id: t.company, p_base_cents: 1000 });
    expect(p.tiers.map((x: Json) => [x.name, x.amount_cents])).toEqual([
      ["Bronze", 150],
      ["Silver", 170],
      ["Gold", 200],
    ]);
    expect(p.streak).toEqual([
      { conversion: 1, multiplier: 1, amount_cents: 150 },
      { conversion: 2, multiplier: 1.25, amount_cents: 187 },
      { conversion: 3, multiplier: 1.5, amount_cents: 225 },
    ]);
    await expectDomainError(call("gamification_preview", { p_company_id: t.company, p_base_cents: -1 }), 400, /not negative/);
  });
});

describe("surprise drops and credits (referral_rewards)", () => {
  it("a drop is drawn from the payment's id: the same on redelivery, at most once per conversion", async () => {
    const t = await company({ drop_chance_pct: 50, drop_points: 75 });
    const payments: string[] = [];
    for (let i = 0; i < 12; i++) payments.push((await buy(t.company, t.referrer)).id);
    const expected = payments.filter((p) => bucket(t.company, p) < 5000).length;
    const drops = await rows<Json>(`select reward_value::int as v, reason from public.referral_rewards where company_id = $1`, [t.company]);
    expect(drops.length).toBe(expected);
    expect(drops.every((d) => d.v === 75 && d.reason === "drop")).toBe(true);
    const [points] = await rows<Json>(
      `select coalesce(sum(points), 0)::int as p, count(*)::int as n from public.transactions where company_id = $1 and points_type = 'SURPRISE_DROP'`,
      [t.company],
    );
    expect(points).toEqual({ p: 75 * expected, n: expected });
    // the same event again, and the same payment in a new event: nothing more
    const [w] = await rows<Json>(`select event_id, payload from public.webhook_events where company_id = $1 limit 1`, [t.company]);
    await webhook(w.event_id, "payment.succeeded", t.company, w.payload.data ?? w.payload);
    await webhook(uid("evt_"), "payment.succeeded", t.company, w.payload.data ?? w.payload);
    expect((await rows(`select 1 from public.referral_rewards where company_id = $1`, [t.company])).length).toBe(expected);
    expect((await gamification(t.company, t.referrer)).drops.length).toBe(Math.min(expected, 5));
  });

  it("chance 100 drops on every conversion, not on renewals; chance 0 never; a held referral drops when approved", async () => {
    const t = await company({ drop_chance_pct: 100, drop_points: 10, fraud_mode: "hold", fraud_hold_score: 20 });
    const a = await buy(t.company, t.referrer);
    const [first] = await rows<Json>(`select user_id from public.payments where payment_id = $1`, [a.id]);
    await pay(t.company, paymentData({ user: first.user_id, total: 10 }));
    await buy(t.company, t.referrer, 10, { referly_signals: { email: "x@mailinator.com", email_disposable: true } });
    const count = async () => (await rows(`select 1 from public.referral_rewards where company_id = $1 and reason = 'drop'`, [t.company])).length;
    expect(await count()).toBe(1);
    const [held] = await rows<Json>(`select id from public.referrals where company_id = $1 and fraud_status = 'held'`, [t.company]);
    await call("decide_referral", { p_company_id: t.company, p_referral_id: held.id, p_decision: "approve", p_reason: "ok", p_actor: "user_admin1" });
    expect(await count()).toBe(2);
    expect(await call("add_points", { p_company_id: t.company, p_user_id: t.referrer, p_delta: 0, p_type: "ADMIN_GRANT", p_reference_type: "x", p_reference_id: "x", p_memo: "" })).toBe(20);
    const off = await company();
    await buy(off.company, off.referrer);
    expect((await rows(`select 1 from public.referral_rewards where company_id = $1`, [off.company])).length).toBe(0);
  });

  it("the 3rd referral's milestone of 200 points is logged as 200 credits", async () => {
    const t = await company();
    await call("create_reward", { p_company_id: t.company, p_reward: { name: "Third", threshold: 3, reward_type: "points", reward_data: { points: 200 }, auto_apply: true } });
    for (let i = 0; i < 3; i++) await buy(t.company, t.referrer);
    const r = await rows<Json>(`select user_id, reward_type, reward_value::int as v, reason, metadata->>'name' as name from public.referral_rewards where company_id = $1`, [t.company]);
    expect(r).toEqual([{ user_id: t.referrer, reward_type: "credits", v: 200, reason: "milestone", name: "Third" }]);
  });
});

describe("leaderboard snapshots (referral_leaderboard)", () => {
  it("a finished week is frozen once with ranks, conversions and commissions; the member's previous rank reads it", async () => {
    const t = await company();
    await buy(t.company, t.other, 25);
    await buy(t.company, t.referrer, 10);
    await buy(t.company, t.referrer, 10);
    // everything happened a week ago (the commissions' days too, as the rollups are kept by day)
    await rows(`update public.referrals set counted_at = counted_at - interval '7 days' where company_id = $1`, [t.company]);
    await rows(`update public.member_daily set day = day - 7 where company_id = $1`, [t.company]);
    await call("rebuild_leaderboards", { p_company_id: t.company });
    const first = await call("snapshot_leaderboards", {});
    expect(first.periods).toBeGreaterThanOrEqual(1);
    const snap = () =>
      rows<Json>(
        `select user_id, rank, total_referrals, total_commissions_cents::int as c, period_end - period_start as days
         from public.referral_leaderboard where company_id = $1 and period = 'week' order by rank`,
        [t.company],
      );
    const frozen = await snap();
    expect(frozen).toEqual([
      { user_id: t.referrer, rank: 1, total_referrals: 2, c: 400, days: 6 },
      { user_id: t.other, rank: 2, total_referrals: 1, c: 500, days: 6 },
    ]);
    // twice: nothing new; a later change to that week's live board does not rewrite it
    await call("snapshot_leaderboards", {});
    await rows(`update public.leaderboard_counts set conversions = 9 where company_id = $1 and user_id = $2 and period = 'week'`, [t.company, t.other]);
    await call("snapshot_leaderboards", {});
    expect(await snap()).toEqual(frozen);
    const b = await call("get_leaderboard", { p_company_id: t.company, p_viewer: t.other, p_period: "week", p_creator: false });
    expect(b.previous).toEqual({ rank: 2, conversions: 1 });
    const creator = await call("get_leaderboard_snapshot", { p_company_id: t.company, p_period: "week", p_start: null, p_after_rank: 0 });
    expect(creator.rows.map((r: Json) => [r.rank, r.name, r.conversions, r.commissions_cents])).toEqual([
      [1, t.referrer.slice(5, 12), 2, 400],
      [2, `name_${t.other.slice(-6)}`.replace(/^name_.*/, creator.rows[1].name), 1, 500],
    ]);
    expect([creator.next_rank, creator.periods.length]).toEqual([null, 1]);
    await expectDomainError(call("get_leaderboard_snapshot", { p_company_id: t.company, p_period: "all", p_start: null, p_after_rank: 0 }), 400, /week or a month/);
    await expectDomainError(call("get_leaderboard_snapshot", { p_company_id: t.company, p_period: "month", p_start: "2001-01-01", p_after_rank: 0 }), 404, /no snapshot/);
  });

  it("the current week is never frozen", async () => {
    const t = await company();
    await buy(t.company, t.referrer);
    await call("snapshot_leaderboards", {});
    expect((await rows(`select 1 from public.referral_leaderboard where company_id = $1`, [t.company])).length).toBe(0);
  });
});

describe("challenges (referral_challenges)", () => {
  const challenge = (companyId: string, c: Record<string, unknown>) =>
    call("create_challenge", {
      p_company_id: companyId,
      p_challenge: { challenge_name: "Refer 2", target_referrals: 2, period: "month", reward_type: "points", reward_data: { points: 300 }, ...c },
    });
  const progress = (companyId: string, userId: string) =>
    rows<Json>(`select achieved_referrals, status from public.referral_challenges where company_id = $1 and user_id = $2`, [companyId, userId]);

  it("each counted conversion steps the member's progress; the target completes it once and grants the reward once", async () => {
    const t = await company();
    const c = await challenge(t.company, {});
    expect([c.status, c.period]).toEqual(["running", "month"]);
    await buy(t.company, t.referrer);
    expect(await progress(t.company, t.referrer)).toEqual([{ achieved_referrals: 1, status: "active" }]);
    await buy(t.company, t.referrer);
    await buy(t.company, t.referrer);
    expect(await progress(t.company, t.referrer)).toEqual([{ achieved_referrals: 3, status: "completed" }]);
    const grants = await rows<Json>(`select status, reward_type, result->>'points' as p from public.reward_redemptions where challenge_id = $1`, [c.id]);
    expect(grants).toEqual([{ status: "granted", reward_type: "points", p: "300" }]);
    const [credit] = await rows<Json>(`select reason, reward_value::int as v from public.referral_rewards where company_id = $1`, [t.company]);
    expect(credit).toEqual({ reason: "challenge", v: 300 });
    const g = await gamification(t.company, t.referrer);
    expect(g.challenges.map((x: Json) => [x.challenge_name, x.achieved_referrals, x.target_referrals, x.status])).toEqual([["Refer 2", 2, 2, "completed"]]);
    const [row] = (await call("list_challenges", { p_company_id: t.company, p_after: null })).rows;
    expect([row.participants, row.completed]).toEqual([1, 1]);
  });

  it("conversions arriving at once complete it once: one reward", async () => {
    const t = await company();
    const c = await challenge(t.company, { target_referrals: 3 });
    await Promise.all(Array.from({ length: 6 }, () => buy(t.company, t.referrer)));
    expect(await progress(t.company, t.referrer)).toEqual([{ achieved_referrals: 6, status: "completed" }]);
    expect((await rows(`select 1 from public.reward_redemptions where challenge_id = $1`, [c.id])).length).toBe(1);
    expect((await rows(`select 1 from public.transactions where company_id = $1 and points_type = 'CHALLENGE_REWARD'`, [t.company])).length).toBe(1);
  });

  it("a conversion that stops counting takes its step back before completion; a stopped challenge moves no more", async () => {
    const t = await company();
    const c = await challenge(t.company, {});
    const a = await buy(t.company, t.referrer);
    await webhook(uid("evt_"), "refund.created", t.company, { id: uid("rfnd_"), amount: 10, status: "succeeded", payment: { id: a.id } });
    expect(await progress(t.company, t.referrer)).toEqual([{ achieved_referrals: 0, status: "active" }]);
    expect((await call("stop_challenge", { p_company_id: t.company, p_challenge_id: c.id })).status).toBe("stopped");
    await buy(t.company, t.referrer);
    expect(await progress(t.company, t.referrer)).toEqual([{ achieved_referrals: 0, status: "active" }]);
    await expectDomainError(call("stop_challenge", { p_company_id: "biz_other", p_challenge_id: c.id }), 404, /No such challenge/);
  });

  it("a week ends on the coming Monday at 00:00 local; dates are checked; a bad challenge writes nothing", async () => {
    const t = await company();
    await call("set_program_timezone", { p_company_id: t.company, p_timezone: "Asia/Tokyo" });
    const w = await challenge(t.company, { period: "week" });
    const [end] = await rows<Json>(`select to_char($1::timestamptz at time zone 'Asia/Tokyo', 'ID HH24:MI') as v`, [w.ends_at]);
    expect(end.v).toBe("1 00:00");
    const d = await challenge(t.company, { period: "dates", starts_at: "2026-01-01", ends_at: "2099-12-31" });
    expect(new Date(d.ends_at).toISOString()).toBe("2099-12-31T15:00:00.000Z");
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ challenge_name: " " }, /needs a name/],
      [{ target_referrals: 0 }, /1 to 100 000/],
      [{ target_referrals: "5" }, /1 to 100 000/],
      [{ period: "year" }, /week, month or dates/],
      [{ period: "dates", starts_at: "2026-02-01", ends_at: "2026-01-01" }, /after the start/],
      [{ period: "dates", starts_at: "2020-01-01", ends_at: "2020-02-01" }, /in the past/],
      [{ period: "dates", starts_at: "soon", ends_at: "2099-01-01" }, /not a date/],
      [{ reward_type: "commission", reward_data: { amount_cents: 100 } }, /Unknown reward type/],
      [{ reward_data: { points: 0 } }, /Points are a whole number/],
    ];
    for (const [c, message] of bad) await expectDomainError(challenge(t.company, c), 400, message);
    expect((await rows(`select 1 from public.challenges where company_id = $1`, [t.company])).length).toBe(2);
  });
});

describe("notifications outbox", () => {
  const outbox = (companyId: string) =>
    rows<Json>(`select user_id, kind, data, status from public.notifications where company_id = $1 order by created_at, kind`, [companyId]);

  it("a commission, a tier, a milestone and a challenge are queued once each in the event's transaction; a replay queues nothing", async () => {
    const t = await company({ tiers: [{ name: "Bronze", min_conversions: 0, bonus_pct: 0 }, { name: "Silver", min_conversions: 1, bonus_pct: 1 }] });
    await call("create_reward", { p_company_id: t.company, p_reward: { name: "First", threshold: 1, reward_type: "points", reward_data: { points: 5 } } });
    await call("create_challenge", {
      p_company_id: t.company,
      p_challenge: { challenge_name: "One", target_referrals: 1, period: "week", reward_type: "points", reward_data: { points: 9 } },
    });
    const a = await buy(t.company, t.referrer, 12.5);
    const kinds = (await outbox(t.company)).map((n) => n.kind).sort();
    expect(kinds).toEqual(["challenge_completed", "commission_earned", "milestone_reached", "tier_reached"]);
    const commission = (await outbox(t.company)).find((n) => n.kind === "commission_earned");
    expect([commission.user_id, commission.data, commission.status]).toEqual([
      t.referrer,
      { amount_cents: 250, currency: "USD", level: 1, kind: "commission" },
      "pending",
    ]);
    // the same payment again (a redelivery under a new event id): a duplicate, nothing queued
    expect((await pay(t.company, a)).outcome).toBe("duplicate_payment");
    expect((await outbox(t.company)).length).toBe(4);
  });

  it("a muted member and a kind the creator turned off get nothing; a held commission is not announced", async () => {
    const t = await company({ notifications_off: ["tier_reached"], fraud_mode: "hold", fraud_hold_score: 20 });
    await buy(t.company, t.other);
    expect((await outbox(t.company)).map((n) => n.kind)).toEqual(["commission_earned"]);
    await call("set_notifications_muted", { p_company_id: t.company, p_user_id: t.other, p_muted: true });
    await buy(t.company, t.other);
    expect((await outbox(t.company)).length).toBe(1);
    await buy(t.company, t.referrer, 10, { referly_signals: { email: "x@mailinator.com", email_disposable: true } });
    expect((await outbox(t.company)).length).toBe(1);
    await expectDomainError(call("update_program_settings", { p_company_id: t.company, p_settings: { notifications_off: ["spam"] } }), 400, /notifications off/);
  });
});

describe("referrals per plan (referral_plan_stats)", () => {
  it("each conversion counts under the plan bought; a deactivation leaves it converted but not active; the check and the repair agree", async () => {
    const t = await company();
    await buy(t.company, t.referrer, 10, { plan: { id: "plan_pro" } });
    await buy(t.company, t.referrer, 10, { plan: { id: "plan_pro" } });
    const basic = await buy(t.company, t.referrer, 10, { plan: { id: "plan_basic" } });
    await buy(t.company, t.referrer, 10); // a payment that names no plan counts in no plan
    const plans = async () => (await call("get_member_detail", { p_company_id: t.company, p_user_id: t.referrer })).plans;
    expect(await plans()).toEqual([
      { plan_id: "plan_pro", conversions: 2, active_referrals: 2 },
      { plan_id: "plan_basic", conversions: 1, active_referrals: 1 },
    ]);
    await webhook(uid("evt_"), "membership.deactivated", t.company, { id: uid("mem_"), status: "expired", user: { id: basic.user.id, username: "x", name: null } });
    expect((await plans())[1]).toEqual({ plan_id: "plan_basic", conversions: 1, active_referrals: 0 });
    expect((await call("check_analytics", { p_company_id: t.company })).ok).toBe(true);
    await rows(`update public.referral_plan_stats set conversions = 7 where company_id = $1 and plan_id = 'plan_pro'`, [t.company]);
    const bad = await call("check_analytics", { p_company_id: t.company });
    expect([bad.ok, bad.differences.map((d: Json) => d.table)]).toEqual([false, ["referral_plan_stats", "referral_plan_stats"]]);
    await call("rebuild_analytics", { p_company_id: t.company });
    expect((await call("check_analytics", { p_company_id: t.company })).ok).toBe(true);
    expect((await plans())[0]).toEqual({ plan_id: "plan_pro", conversions: 2, active_referrals: 2 });
  });
});
