/**
 * Campaigns and milestone rewards (supabase/schemas/50_campaigns.sql; see
 * docs/architecture.md, "Campaigns and rewards", "The payment pipeline"; tables campaigns,
 * rewards, reward_redemptions), run for real on the test Postgres through the typed `rpc` the app uses.
 * Everything is made through the SQL functions (payments as signed-webhook data through
 * process_webhook_event); time passing is simulated by moving a campaign's dates in SQL.
 *
 * Covered as a creator or member would notice it: campaign windows in a program time zone
 * (DST included, to the microsecond at local midnight; payments a minute before the start or
 * a moment after the end), which campaign a conversion joins (overlap, products, drafts), the
 * bonus rate and points stored on the commission to the cent (half a cent down; flat
 * commissions), counters under refunds, disputes and fraud decisions, prizes awarded once (job
 * run twice and concurrently, an end racing a conversion, ties to who got there first, money
 * prizes through hold and payout), validation (RL400, nothing written) and status rules
 * (RL409); milestones crossed once under concurrency, auto vs claim, Whop failure → retry →
 * granted → claimed (by the member, or by their payment using the code), campaign-scoped
 * thresholds, withdrawal by a full refund before the grant. check_analytics stays ok for
 * every company a test made.
 */
import type pg from "pg";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { createPgBackend } from "../../lib/db/pg";
import { call, codeOf, expectDomainError, ids, pay, paymentData, pool, sqlDb, sqlRows as rows, uid, webhook } from "../helpers";
import * as world from "../world";
import { consistentAfterEach, refund } from "../world";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

afterAll(async () => {
  await sqlDb().close();
});

/** The companies the running test made: check_analytics must be ok for each after the test. */
const made = consistentAfterEach((c) => c);

const DAY = 86_400_000;
const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

/** A fresh company with these settings (hold_days 0 unless given, fraud off unless given: world.QUIET), checked after the test. */
const company = (settings: Record<string, unknown> = {}) => world.company(settings, { made });

/** An active campaign (started an hour ago, ends in `days`), scheduled. */
const campaign = (companyId: string, c: Record<string, unknown> = {}, days = 10): Promise<Json> =>
  call("create_campaign", { p_company_id: companyId, p_campaign: { name: "Sprint", start_date: iso(-3_600_000), end_date: iso(days * DAY), scheduled: true, ...c } });

/** `payer` pays `total` dollars through `referrer`'s code (world.buy); returns the payment id, outcome and data. */
const buy = (companyId: string, referrer: string, payer: string, total = 100, extra: Record<string, unknown> = {}) =>
  world.buy(companyId, { via: referrer, payer, total, extra });

async function campaignRow(id: string): Promise<Json> {
  const [c] = await rows<Json>(`select total_referrals, awarded_at, status from public.campaigns where id = $1`, [id]);
  return c;
}
const tally = async (campaignId: string) =>
  rows<Json>(`select user_id, conversions, place from public.campaign_members where campaign_id = $1 order by user_id`, [campaignId]);
const redemptions = async (companyId: string, user?: string) =>
  rows<Json>(
    `select reward_id, campaign_id, prize, name, reward_type, status, requested_at is not null as requested, result, error_message, attempts, id
     from public.reward_redemptions where company_id = $1 and ($2::text is null or user_id = $2) order by created_at, name`,
    [companyId, user ?? null],
  );
const points = async (companyId: string, user: string) =>
  rows<Json>(`select points_type, points::int from public.transactions where company_id = $1 and user_id = $2 and kind = 'points' order by id`, [companyId, user]);
const end = async (campaignId: string) => {
  // time passes: the campaign's end is behind us
  await rows(`update public.campaigns set start_date = now() - interval '2 days', end_date = now() - interval '1 second' where id = $1`, [campaignId]);
};

describe("campaign dates", () => {
  it("local dates in the program's time zone: the start at local midnight, a date-only end through that day (across DST)", async () => {
    const t = await company();
    await call("set_program_timezone", { p_company_id: t.company, p_timezone: "America/New_York" });
    const c = await call("create_campaign", { p_company_id: t.company, p_campaign: { name: "March", start_date: "2027-03-13", end_date: "2027-03-14" } });
    // 13 March is EST (UTC−5); the day after the 14th starts in EDT (UTC−4)
    expect(new Date(c.start_date).toISOString()).toBe("2027-03-13T05:00:00.000Z");
    expect(new Date(c.end_date).toISOString()).toBe("2027-03-15T04:00:00.000Z");
    expect(c.status).toBe("draft");
    const withTime = await call("create_campaign", {
      p_company_id: t.company,
      p_campaign: { name: "Evening", start_date: "2027-01-05T18:30", end_date: "2027-01-06T00:00:00Z" },
    });
    expect(new Date(withTime.start_date).toISOString()).toBe("2027-01-05T23:30:00.000Z");
    expect(new Date(withTime.end_date).toISOString()).toBe("2027-01-06T00:00:00.000Z");
    // an edit with local dates reads them in the program's zone too (July: EDT, UTC−4)
    const moved = await call("update_campaign", { p_company_id: t.company, p_campaign_id: c.id, p_campaign: { start_date: "2027-07-01", end_date: "2027-07-04" } });
    expect([new Date(moved.start_date).toISOString(), new Date(moved.end_date).toISOString()]).toEqual(["2027-07-01T04:00:00.000Z", "2027-07-05T04:00:00.000Z"]);
  });

  it("the campaign a conversion at an instant joins: from local midnight of the start day, through the last microsecond of the end day", async () => {
    const t = await company();
    await call("set_program_timezone", { p_company_id: t.company, p_timezone: "America/New_York" });
    const c = await call("create_campaign", { p_company_id: t.company, p_campaign: { name: "Weekend", start_date: "2027-03-13", end_date: "2027-03-14", scheduled: true } });
    const at = async (instant: string) =>
      (await rows<Json>(`select (public.campaign_for_conversion($1, null, $2::timestamptz)).id`, [t.company, instant]))[0].id;
    expect(await at("2027-03-13T04:59:59.999999Z")).toBeNull(); // 23:59:59.999999 on the 12th in New York
    expect(await at("2027-03-13T05:00:00Z")).toBe(c.id); // midnight EST
    expect(await at("2027-03-15T03:59:59.999999Z")).toBe(c.id); // 23:59:59.999999 EDT on the 14th
    expect(await at("2027-03-15T04:00:00Z")).toBeNull(); // midnight on the 15th: over
    // the live status follows the same instants
    const status = async (instant: string) =>
      (await rows<Json>(`select public.campaign_status(c, $2::timestamptz) as s from public.campaigns c where id = $1`, [c.id, instant]))[0].s;
    expect(await Promise.all(["2027-03-13T04:59:59Z", "2027-03-13T05:00:00Z", "2027-03-15T03:59:59Z", "2027-03-15T04:00:00Z"].map(status))).toEqual([
      "draft",
      "active",
      "active",
      "ended",
    ]);
  });

  it("a payment a minute before the start or a moment after the end doesn't join; one just after the start does", async () => {
    const t = await company();
    const c = await campaign(t.company, { rules: { bonus_rate_bp: 500 } });
    const place = (start: string, end: string) => rows(`update public.campaigns set start_date = ${start}, end_date = ${end} where id = $1`, [c.id]);
    const joined = async (referee: string) =>
      (await rows<Json>(
        `select r.campaign_id, c.rate_bp from public.referrals r join public.commissions c on c.referral_id = r.id
         where r.company_id = $1 and r.referee_user_id = $2`,
        [t.company, referee],
      ))[0];
    const [early, inside, late] = [uid("user_e"), uid("user_i"), uid("user_l")];
    await place(`now() + interval '1 minute'`, `now() + interval '1 day'`);
    await buy(t.company, t.referrer, early);
    expect(await joined(early)).toEqual({ campaign_id: null, rate_bp: 2000 });
    await place(`now() - interval '1 second'`, `now() + interval '1 day'`);
    await buy(t.company, t.referrer, inside);
    expect(await joined(inside)).toEqual({ campaign_id: c.id, rate_bp: 2500 });
    await place(`now() - interval '1 day'`, `now()`); // the end is exclusive: every later instant is after it
    await buy(t.company, t.referrer, late);
    expect(await joined(late)).toEqual({ campaign_id: null, rate_bp: 2000 });
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
  });

  it("a conversion joins only a scheduled campaign running now; before its start, after its end or as a draft it doesn't", async () => {
    const t = await company();
    const future = await campaign(t.company, { name: "Later", start_date: iso(DAY), end_date: iso(5 * DAY) });
    const past = await campaign(t.company, { name: "Over", start_date: iso(-5 * DAY), end_date: iso(-DAY) });
    const draft = await campaign(t.company, { name: "Draft", scheduled: false });
    expect([future.status, past.status, draft.status]).toEqual(["draft", "ended", "draft"]);
    await buy(t.company, t.referrer, t.referee);
    const [r] = await rows<Json>(`select campaign_id, counted from public.referrals where company_id = $1`, [t.company]);
    expect(r).toEqual({ campaign_id: null, counted: true });
    const [c] = await rows<Json>(`select campaign_id, campaign_bonus_bp, rate_bp from public.commissions where company_id = $1`, [t.company]);
    expect(c).toEqual({ campaign_id: null, campaign_bonus_bp: 0, rate_bp: 2000 });
    // a campaign starting now takes the next one
    const now = await campaign(t.company, { name: "Now" });
    expect(now.status).toBe("active");
    await buy(t.company, t.referrer, t.other);
    const [r2] = await rows<Json>(`select campaign_id from public.referrals where company_id = $1 and referee_user_id = $2`, [t.company, t.other]);
    expect(r2.campaign_id).toBe(now.id);
  });

  it("two campaigns at once: the one ending soonest, among those for the payment's product", async () => {
    const t = await company();
    const long = await campaign(t.company, { name: "Long", rules: { bonus_rate_bp: 100 } }, 20);
    const short = await campaign(t.company, { name: "Short", rules: { bonus_rate_bp: 300, product_ids: ["prod_a"] } }, 5);
    await buy(t.company, t.referrer, t.referee, 100, { product: { id: "prod_a" } });
    await buy(t.company, t.referrer, t.other, 100, { product: { id: "prod_b" } });
    const noProduct = await buy(t.company, t.referrer, uid("user_np"));
    const [np] = await rows<Json>(`select r.campaign_id from public.payments p join public.referrals r on r.id = p.referral_id where p.payment_id = $1`, [noProduct.id]);
    expect(np.campaign_id).toBe(long.id);
    const r = await rows<Json>(
      `select r.referee_user_id, r.campaign_id, c.rate_bp, c.campaign_bonus_bp, c.amount_cents::int from public.referrals r
       join public.commissions c on c.referral_id = r.id where r.company_id = $1 and r.referee_user_id in ($2, $3) order by r.referee_user_id`,
      [t.company, t.referee, t.other],
    );
    expect(r).toEqual([
      { referee_user_id: t.referee, campaign_id: short.id, rate_bp: 2300, campaign_bonus_bp: 300, amount_cents: 2300 },
      { referee_user_id: t.other, campaign_id: long.id, rate_bp: 2100, campaign_bonus_bp: 100, amount_cents: 2100 },
    ].sort((a, b) => a.referee_user_id.localeCompare(b.referee_user_id)));
  });
});

describe("campaign rules on the commission", () => {
  it("level 1 gets program rate + bonus (stored, round half down), bonus points once; level 2 and renewals get no bonus", async () => {
    const t = await company({ mlm_enabled: true, max_level: 2 });
    // the referrer was referred by `other` (before the campaign): level 2 goes to them
    await buy(t.company, t.other, t.referrer, 10);
    const c = await campaign(t.company, { rules: { bonus_rate_bp: 500, bonus_points: 70 } });
    const first = await buy(t.company, t.referrer, t.referee, 49.99);
    const lv = await rows<Json>(
      `select level, rate_bp, campaign_bonus_bp, campaign_id, amount_cents::int, base_amount_cents::int from public.commissions
       where company_id = $1 and payment_id = $2 order by level`,
      [t.company, first.id],
    );
    // 4999 × 25 % = 1249.75 → 1250; level 2: 4999 × 5 % = 249.95 → 250
    expect(lv).toEqual([
      { level: 1, rate_bp: 2500, campaign_bonus_bp: 500, campaign_id: c.id, amount_cents: 1250, base_amount_cents: 4999 },
      { level: 2, rate_bp: 500, campaign_bonus_bp: 0, campaign_id: null, amount_cents: 250, base_amount_cents: 4999 },
    ]);
    // a redelivery of the same event changes nothing (points once)
    await pay(t.company, first.data, "evt_again" + first.id);
    const bonus = (await points(t.company, t.referrer)).filter((p: Json) => p.points_type === "CAMPAIGN_BONUS");
    expect(bonus).toEqual([{ points_type: "CAMPAIGN_BONUS", points: 70 }]);
    // a renewal of the same member: the program's rate only
    const renewal = await pay(t.company, paymentData({ user: t.referee, total: 49.99 }));
    expect(renewal.outcome).toBe("commission_created");
    const [r] = await rows<Json>(
      `select rate_bp, campaign_bonus_bp, amount_cents::int from public.commissions where company_id = $1 and level = 1 and beneficiary_user_id = $2 order by created_at desc limit 1`,
      [t.company, t.referrer],
    );
    expect(r).toEqual({ rate_bp: 2000, campaign_bonus_bp: 0, amount_cents: 1000 });
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
  });

  it("the bonus never takes a rate over 100 %", async () => {
    const t = await company({ commission_rate_bp: 9800 });
    await campaign(t.company, { rules: { bonus_rate_bp: 500 } });
    await buy(t.company, t.referrer, t.referee, 10);
    const [c] = await rows<Json>(`select rate_bp, campaign_bonus_bp, amount_cents::int from public.commissions where company_id = $1`, [t.company]);
    expect(c).toEqual({ rate_bp: 10000, campaign_bonus_bp: 200, amount_cents: 1000 });
  });

  it("with a flat commission the bonus rate is paid on top of the flat amount, on the converting payment only", async () => {
    const t = await company({ commission_type: "flat", flat_amount_cents: 500 });
    const c = await campaign(t.company, { rules: { bonus_rate_bp: 250 } });
    await buy(t.company, t.referrer, t.referee, 49.99);
    // 5.00 + 49.99 × 2.5 % = 5.00 + 1.24975 → 5.00 + 1.25
    const [row] = await rows<Json>(`select rate_bp, campaign_bonus_bp, campaign_id, amount_cents::int from public.commissions where company_id = $1`, [t.company]);
    expect(row).toEqual({ rate_bp: 250, campaign_bonus_bp: 250, campaign_id: c.id, amount_cents: 625 });
    expect((await pay(t.company, paymentData({ user: t.referee, total: 49.99 }))).outcome).toBe("no_commission");
  });

  it("amounts to the cent: program 20 % + bonus 5 % of the price without tax, half a cent rounds down", async () => {
    const t = await company();
    const c = await campaign(t.company, { rules: { bonus_rate_bp: 500 } });
    // 10.02 × 25 % = 2.505 → 2.50; 10.06 × 25 % = 2.515 → 2.51; 12.02 with 2.00 tax: 10.02 × 25 % → 2.50; 0.02 × 25 % = 0.005 → 0.00 (no row)
    const cases: [number, number][] = [[10.02, 0], [10.06, 0], [12.02, 2], [0.02, 0]];
    const got: Json[] = [];
    for (const [total, tax] of cases) {
      const payer = uid("user_p");
      const code = await codeOf(t.company, t.referrer);
      const data = paymentData({ user: payer, total, tax, code });
      const out = await pay(t.company, data);
      const [row] = await rows<Json>(
        `select base_amount_cents::int as base, rate_bp, campaign_bonus_bp, campaign_id, amount_cents::int as amount
         from public.commissions where company_id = $1 and payment_id = $2`,
        [t.company, data.id],
      );
      got.push(row ?? out.outcome);
    }
    expect(got).toEqual([
      { base: 1002, rate_bp: 2500, campaign_bonus_bp: 500, campaign_id: c.id, amount: 250 },
      { base: 1006, rate_bp: 2500, campaign_bonus_bp: 500, campaign_id: c.id, amount: 251 },
      { base: 1002, rate_bp: 2500, campaign_bonus_bp: 500, campaign_id: c.id, amount: 250 },
      "no_commission",
    ]);
    // the commissions list says how the rate was made
    const listed = await call("list_commissions", { p_company_id: t.company, p_filter: {} });
    expect(listed.rows.map((r: Json) => [r.rate_bp, r.campaign_bonus_bp, r.campaign_id])).toEqual(Array(3).fill([2500, 500, c.id]));
    // the zero-commission conversion still counts
    expect((await campaignRow(c.id)).total_referrals).toBe(4);
  });
});

describe("campaign counters", () => {
  it("count per counted conversion; a full refund of the converting payment takes it out, a partial one does not", async () => {
    const t = await company();
    const c = await campaign(t.company);
    const a = await buy(t.company, t.referrer, t.referee, 100);
    await buy(t.company, t.referrer, t.other, 100);
    expect((await campaignRow(c.id)).total_referrals).toBe(2);
    await refund(t.company, a.id, 40);
    expect((await campaignRow(c.id)).total_referrals).toBe(2);
    await refund(t.company, a.id, 60);
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
    expect(await tally(c.id)).toEqual([{ user_id: t.referrer, conversions: 1, place: null }]);
    const [prog] = await rows<Json>(`select conversions from public.reward_progress where company_id = $1 and user_id = $2`, [t.company, t.referrer]);
    expect(prog.conversions).toBe(1);
    // a repeat of the same refund event, or another refund of the already refunded payment, changes nothing
    await refund(t.company, a.id, 60);
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
  });

  it("only the converting payment counts: a renewal refunded in full leaves the conversion; a full dispute of the first payment takes it out", async () => {
    const t = await company();
    const c = await campaign(t.company);
    await buy(t.company, t.referrer, t.referee, 30);
    const renewal = paymentData({ user: t.referee, total: 30 });
    expect((await pay(t.company, renewal)).outcome).toBe("commission_created");
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
    await refund(t.company, renewal.id, 30);
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
    const disputed = await buy(t.company, t.referrer, t.other, 30);
    expect((await campaignRow(c.id)).total_referrals).toBe(2);
    await webhook(uid("evt_"), "dispute.created", t.company, { id: uid("dspt_"), amount: 30, payment: { id: disputed.id } });
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
    expect(await tally(c.id)).toEqual([{ user_id: t.referrer, conversions: 1, place: null }]);
    // the live standings drop it too
    const detail = await call("get_campaign", { p_company_id: t.company, p_campaign_id: c.id });
    expect(detail.standings.map((s: Json) => [s.place, s.user_id, s.conversions])).toEqual([[1, t.referrer, 1]]);
  });

  it("a held referral counts only once approved (a rejected held one never); a flagged one that is rejected stops counting", async () => {
    const t = await company({ fraud_mode: "hold", fraud_hold_score: 20 });
    const c = await campaign(t.company, { rules: { bonus_points: 10 } });
    await call("create_reward", { p_company_id: t.company, p_reward: { name: "First", threshold: 1, reward_type: "points", reward_data: { points: 5 } } });
    const throwaway = { referly_signals: { email: "x@mailinator.com", email_disposable: true } };
    const held = await buy(t.company, t.referrer, t.referee, 100, throwaway);
    expect(held.outcome).toBe("commission_held");
    expect((await campaignRow(c.id)).total_referrals).toBe(0);
    expect(await tally(c.id)).toEqual([]);
    expect(await redemptions(t.company)).toEqual([]); // no milestone while held
    expect((await points(t.company, t.referrer)).filter((p: Json) => p.points_type === "CAMPAIGN_BONUS")).toEqual([]);
    const [ref] = await rows<Json>(`select id from public.referrals where company_id = $1 and referee_user_id = $2`, [t.company, t.referee]);
    await call("decide_referral", { p_company_id: t.company, p_referral_id: ref.id, p_decision: "approve", p_reason: "checked", p_actor: "user_admin1" });
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
    expect((await points(t.company, t.referrer)).filter((p: Json) => p.points_type === "CAMPAIGN_BONUS")).toEqual([{ points_type: "CAMPAIGN_BONUS", points: 10 }]);
    expect((await redemptions(t.company)).map((r: Json) => [r.name, r.status])).toEqual([["First", "granted"]]);

    // another held one, rejected: never counted, no bonus points
    const heldToo = uid("user_h");
    expect((await buy(t.company, t.referrer, heldToo, 100, throwaway)).outcome).toBe("commission_held");
    const [refToo] = await rows<Json>(`select id from public.referrals where company_id = $1 and referee_user_id = $2`, [t.company, heldToo]);
    await call("decide_referral", { p_company_id: t.company, p_referral_id: refToo.id, p_decision: "reject", p_reason: "fake", p_actor: "user_admin1" });
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
    expect((await points(t.company, t.referrer)).filter((p: Json) => p.points_type === "CAMPAIGN_BONUS")).toHaveLength(1);

    await call("update_program_settings", { p_company_id: t.company, p_settings: { fraud_hold_score: 100 } });
    await buy(t.company, t.referrer, t.other, 100, throwaway); // flagged (20 < 100): counts
    expect((await campaignRow(c.id)).total_referrals).toBe(2);
    const [flagged] = await rows<Json>(`select id, fraud_status from public.referrals where company_id = $1 and referee_user_id = $2`, [t.company, t.other]);
    expect(flagged.fraud_status).toBe("flagged");
    await call("decide_referrals", { p_company_id: t.company, p_referral_ids: [flagged.id], p_decision: "reject", p_reason: "ring", p_actor: "user_admin1" });
    expect((await campaignRow(c.id)).total_referrals).toBe(1);
    expect(await tally(c.id)).toEqual([{ user_id: t.referrer, conversions: 1, place: null }]);
  });
});

describe("prizes", () => {
  it("awarded once at the end — job run twice and concurrently — ties to who got there first; money is a bonus commission that pays out", async () => {
    const t = await company({ hold_days: 3, min_payout_cents: 100 });
    const c = await campaign(t.company, {
      prizes: {
        top: [
          { reward_type: "commission", reward_data: { amount_cents: 5000 } },
          { reward_type: "points", reward_data: { points: 300 } },
        ],
        reach: { count: 2, prize: { reward_type: "custom", reward_data: { note: "a hoodie" } } },
      },
    });
    // ties go to who got there first, not to the user id: the one first to 1 sorts last by id
    const first = `user_zz${uid()}`;
    const third = `user_aa${uid()}`;
    // the referrer gets 2, `first` 1 then `third` 1: first reached 1 first → place 2
    await buy(t.company, t.referrer, t.referee);
    await buy(t.company, first, uid("user_x"));
    await buy(t.company, third, uid("user_y"));
    await buy(t.company, t.referrer, uid("user_z"));
    // the live places members see before the end, and the creator's standings
    const places = await Promise.all([t.referrer, first, third].map(async (u) => (await call("get_member_rewards", { p_company_id: t.company, p_user_id: u })).campaign.place));
    expect(places).toEqual([1, 2, 3]);
    const live = await call("get_campaign", { p_company_id: t.company, p_campaign_id: c.id });
    expect(live.standings.map((s: Json) => [s.place, s.user_id, s.conversions, s.prize?.reward_type ?? null])).toEqual([
      [1, t.referrer, 2, "commission"],
      [2, first, 1, "points"],
      [3, third, 1, null],
    ]);
    expect(live.total_referrals).toBe(4);
    await end(c.id);
    const backends = [createPgBackend(inject("sqlDbUrl"), 2), createPgBackend(inject("sqlDbUrl"), 2)];
    try {
      const runs = await Promise.all(backends.map((b) => call("advance_campaigns", {}, b)));
      expect(runs.map((r: Json) => r.awarded).sort()).toEqual([0, 3]);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
    expect((await call("advance_campaigns", {})).awarded).toBe(0);
    expect(await tally(c.id)).toEqual(
      [
        { user_id: t.referrer, conversions: 2, place: 1 },
        { user_id: first, conversions: 1, place: 2 },
        { user_id: third, conversions: 1, place: 3 },
      ].sort((a, b) => a.user_id.localeCompare(b.user_id)),
    );
    const won = (await redemptions(t.company)).map((r: Json) => [r.prize, r.reward_type, r.status, r.requested]);
    expect(won.sort()).toEqual(
      [
        ["place:1", "commission", "pending", true],
        ["place:2", "points", "pending", true],
        ["reach", "custom", "pending", true],
      ].sort(),
    );
    // granted in SQL (as lib/rewards does right after): money and points, once
    for (const r of await redemptions(t.company)) {
      await call("grant_reward_redemption", { p_company_id: t.company, p_redemption_id: r.id });
      await call("grant_reward_redemption", { p_company_id: t.company, p_redemption_id: r.id });
    }
    const [bonus] = await rows<Json>(`select kind, amount_cents::int, status, campaign_id, payment_id from public.commissions where company_id = $1 and kind = 'bonus'`, [t.company]);
    expect(bonus).toEqual({ kind: "bonus", amount_cents: 5000, status: "pending", campaign_id: c.id, payment_id: null });
    expect((await points(t.company, first)).filter((p: Json) => p.points_type === "CAMPAIGN_PRIZE")).toEqual([{ points_type: "CAMPAIGN_PRIZE", points: 300 }]);
    expect((await points(t.company, third)).filter((p: Json) => p.points_type === "CAMPAIGN_PRIZE")).toEqual([]);
    // the money prize's ledger row, once
    const prizeLedger = await rows<Json>(
      `select t.amount_cents::int from public.transactions t join public.commissions b on b.id::text = t.reference_id
       where t.company_id = $1 and t.kind = 'commission' and b.kind = 'bonus'`,
      [t.company],
    );
    expect(prizeLedger).toEqual([{ amount_cents: 5000 }]);
    expect((await redemptions(t.company)).find((r: Json) => r.prize === "reach").status).toBe("pending"); // custom: the creator's
    // a refund after the award doesn't move the frozen standings
    const [p] = await rows<Json>(`select payment_id from public.payments where company_id = $1 and user_id = $2`, [t.company, t.referee]);
    await refund(t.company, p.payment_id, 100);
    expect((await tally(c.id)).find((m: Json) => m.user_id === t.referrer)).toEqual({ user_id: t.referrer, conversions: 2, place: 1 });
    expect((await campaignRow(c.id)).total_referrals).toBe(4);
    const frozen = await call("get_campaign", { p_company_id: t.company, p_campaign_id: c.id });
    expect(frozen.standings.map((s: Json) => [s.place, s.user_id, s.conversions])).toEqual([[1, t.referrer, 2], [2, first, 1], [3, third, 1]]);
    // the hold: the prize is not available before it passes
    await call("release_commissions", {});
    await expectDomainError(call("request_payout", { p_company_id: t.company, p_user_id: t.referrer }), 400, /available balance \(0 cents\)/);
    // the hold passes: the prize is paid out with the rest
    await rows(`update public.commissions set available_at = now() - interval '1 second' where company_id = $1 and status = 'pending'`, [t.company]);
    await call("release_commissions", {});
    const [released] = await rows<Json>(`select status from public.commissions where company_id = $1 and kind = 'bonus'`, [t.company]);
    expect(released.status).toBe("available");
    const payout = await call("request_payout", { p_company_id: t.company, p_user_id: t.referrer });
    // 2 × 20 % of 100.00 = 40.00, one reversed by the full refund → 20.00, plus the 50.00 prize
    expect(Number(payout.amount_cents)).toBe(2000 + 5000);
    const [inPayout] = await rows<Json>(`select payout_id from public.commissions where company_id = $1 and kind = 'bonus'`, [t.company]);
    expect(inPayout.payout_id).toBe(payout.id);
  });

  it("set_campaign_status end awards at once; end, archive and edits follow the status rules", async () => {
    const t = await company();
    const c = await campaign(t.company, { prizes: { top: [{ reward_type: "points", reward_data: { points: 50 } }] } });
    await buy(t.company, t.referrer, t.referee);
    await expectDomainError(call("update_campaign", { p_company_id: t.company, p_campaign_id: c.id, p_campaign: { rules: { bonus_rate_bp: 900 } } }), 409, /running/);
    const renamed = await call("update_campaign", { p_company_id: t.company, p_campaign_id: c.id, p_campaign: { name: "Renamed" } });
    expect(renamed.name).toBe("Renamed");
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: c.id, p_action: "archive" }), 409, /draft or an ended/);
    const ended = await call("set_campaign_status", { p_company_id: t.company, p_campaign_id: c.id, p_action: "end" });
    expect(ended.status).toBe("ended");
    expect((await redemptions(t.company)).map((r: Json) => r.prize)).toEqual(["place:1"]);
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: c.id, p_action: "end" }), 409, /running/);
    expect((await call("set_campaign_status", { p_company_id: t.company, p_campaign_id: c.id, p_action: "archive" })).status).toBe("archived");
    const draft = await campaign(t.company, { scheduled: false });
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: draft.id, p_action: "end" }), 409, /running/);
    // another company can't touch it
    const other = await company();
    await expectDomainError(call("set_campaign_status", { p_company_id: other.company, p_campaign_id: draft.id, p_action: "schedule" }), 404, /No such campaign/);
  });

  it("schedule and unschedule a draft; archiving a campaign that ended by date awards it first; one member can win two money prizes", async () => {
    const t = await company();
    const later = await campaign(t.company, { scheduled: false, start_date: iso(DAY), end_date: iso(2 * DAY) });
    expect(later.status).toBe("draft");
    const scheduled = await call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "schedule" });
    expect([scheduled.status, scheduled.scheduled]).toEqual(["draft", true]);
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "schedule" }), 409, /Only a draft/);
    const back = await call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "unschedule" });
    expect([back.status, back.scheduled]).toEqual(["draft", false]);
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "unschedule" }), 409, /Only a scheduled/);
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "pause" }), 400, /Unknown action/);
    // scheduled, its start comes: live at once on read, and the job moves the stored status
    await call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "schedule" });
    await rows(`update public.campaigns set start_date = now() - interval '1 minute' where id = $1`, [later.id]);
    expect((await call("get_campaign", { p_company_id: t.company, p_campaign_id: later.id })).status).toBe("active");
    expect((await campaignRow(later.id)).status).toBe("draft");
    expect((await call("advance_campaigns", {})).moved).toBeGreaterThanOrEqual(1);
    expect((await campaignRow(later.id)).status).toBe("active");
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "unschedule" }), 409, /Only a scheduled/);
    await call("set_campaign_status", { p_company_id: t.company, p_campaign_id: later.id, p_action: "end" });
    // a draft whose dates are behind it can't be scheduled
    const stale = await campaign(t.company, { scheduled: false, start_date: iso(-3 * DAY), end_date: iso(-2 * DAY) });
    await expectDomainError(call("set_campaign_status", { p_company_id: t.company, p_campaign_id: stale.id, p_action: "schedule" }), 409, /end date has passed/);

    const c = await campaign(t.company, {
      prizes: {
        top: [{ reward_type: "commission", reward_data: { amount_cents: 1500 } }],
        reach: { count: 1, prize: { reward_type: "commission", reward_data: { amount_cents: 250 } } },
      },
    });
    await buy(t.company, t.referrer, t.referee);
    await end(c.id); // over by date; the job hasn't run
    const archived = await call("set_campaign_status", { p_company_id: t.company, p_campaign_id: c.id, p_action: "archive" });
    expect(archived.status).toBe("archived");
    const won = await redemptions(t.company);
    expect(won.map((r: Json) => [r.prize, r.reward_type]).sort()).toEqual([["place:1", "commission"], ["reach", "commission"]]);
    for (const r of won) await call("grant_reward_redemption", { p_company_id: t.company, p_redemption_id: r.id });
    const bonus = await rows<Json>(
      `select amount_cents::int, status from public.commissions where company_id = $1 and kind = 'bonus' order by amount_cents`,
      [t.company],
    );
    expect(bonus).toEqual([{ amount_cents: 250, status: "available" }, { amount_cents: 1500, status: "available" }]);
    // hold 0: available at once, and withdrawn with the referral commission (20.00)
    const payout = await call("request_payout", { p_company_id: t.company, p_user_id: t.referrer });
    expect(Number(payout.amount_cents)).toBe(2000 + 1500 + 250);
    // the job finds nothing left to award
    expect((await call("advance_campaigns", {})).awarded).toBe(0);
  });

  it("ending a campaign while a conversion is in flight: the conversion is either in the frozen standings or in no campaign", async () => {
    const sql = pool(inject("sqlDbUrl"));
    /** `first` in an open transaction; `second` (another connection) runs meanwhile; commit after it waited or ended. */
    async function interleave(first: (c: pg.PoolClient) => Promise<unknown>, second: () => Promise<unknown>) {
      const client = await sql.connect();
      try {
        await client.query("begin");
        await first(client);
        const secondP = second();
        await Promise.race([secondP.catch(() => {}), new Promise((r) => setTimeout(r, 700))]);
        await client.query("commit");
        return await secondP;
      } finally {
        client.release();
      }
    }
    const prizes = { top: [{ reward_type: "points", reward_data: { points: 10 } }] };
    const convert = (companyId: string, code: string, payer: string) => paymentData({ user: payer, total: 100, code });

    // the end first: the conversion waits for it, then joins no campaign (no bonus, not counted in it)
    const t = await company();
    const c = await campaign(t.company, { rules: { bonus_rate_bp: 500 }, prizes });
    const code = await codeOf(t.company, t.referrer);
    await interleave(
      (client) => client.query(`select public.set_campaign_status($1, $2, 'end')`, [t.company, c.id]),
      () => pay(t.company, convert(t.company, code, t.referee)),
    );
    const [r] = await rows<Json>(
      `select r.campaign_id, c.rate_bp from public.referrals r join public.commissions c on c.referral_id = r.id where r.company_id = $1`,
      [t.company],
    );
    expect(r).toEqual({ campaign_id: null, rate_bp: 2000 });
    expect(await campaignRow(c.id)).toMatchObject({ total_referrals: 0, status: "ended" });
    expect(await redemptions(t.company)).toEqual([]);

    // the conversion first: the end waits for it, and its standings and prize include it
    const u = await company();
    const d = await campaign(u.company, { rules: { bonus_rate_bp: 500 }, prizes });
    const code2 = await codeOf(u.company, u.referrer);
    await interleave(
      (client) =>
        client.query(`select public.process_webhook_event($1, 'payment.succeeded', $2, $3::jsonb)`, [
          uid("evt_"),
          u.company,
          JSON.stringify(convert(u.company, code2, u.referee)),
        ]),
      () => call("set_campaign_status", { p_company_id: u.company, p_campaign_id: d.id, p_action: "end" }),
    );
    const [r2] = await rows<Json>(
      `select r.campaign_id, c.rate_bp from public.referrals r join public.commissions c on c.referral_id = r.id where r.company_id = $1`,
      [u.company],
    );
    expect(r2).toEqual({ campaign_id: d.id, rate_bp: 2500 });
    expect(await tally(d.id)).toEqual([{ user_id: u.referrer, conversions: 1, place: 1 }]);
    expect((await redemptions(u.company)).map((x: Json) => [x.prize, x.status])).toEqual([["place:1", "pending"]]);
  });

  it("bad values are refused with a reason and nothing is written", async () => {
    const t = await company();
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ start_date: "yesterday" }, /start_date is not a date/],
      [{ end_date: iso(-2 * DAY) }, /end after it starts/],
      [{ rules: { bonus_rate_bp: 10001 } }, /between 0 % and 100 %/],
      [{ rules: { bonus_rate_bp: 1.5 } }, /between 0 % and 100 %/],
      [{ rules: { product_ids: ["plan_x"] } }, /prod_/],
      [{ prizes: { top: [{ reward_type: "cash", reward_data: {} }] } }, /Unknown reward type/],
      [{ prizes: { top: [{ reward_type: "product_unlock", reward_data: { plan_id: "nope" } }] } }, /plan id/],
      [{ prizes: { reach: { count: 0, prize: { reward_type: "points", reward_data: { points: 5 } } } } }, /count of at least 1/],
      [{ name: "" }, /name/],
      [{ start_date: "2027-02-30", end_date: "2027-03-05" }, /start_date is not a date/],
      [{ start_date: "2027-03-05", end_date: "2027-03-04" }, /end after it starts/],
      [{ end_date: "1999-12-31T00:00:00Z" }, /end_date is not a date/],
      [{ rules: { bonus_rate_bp: -1 } }, /between 0 % and 100 %/],
      [{ rules: { bonus_points: "ten" } }, /Bonus points/],
      [{ rules: { surprise: 1 } }, /rules take/],
      [{ prizes: { top: [{ reward_type: "commission", reward_data: { amount_cents: 0 } }] } }, /money prize is a positive amount/],
      [{ prizes: { top: [{ reward_type: "discount", reward_data: { percent_off: 20, plan_ids: ["prod_x"] } }] } }, /plan_ids/],
      [{ prizes: { top: Array(11).fill({ reward_type: "points", reward_data: { points: 1 } }) } }, /top 10/],
      [{ scheduled: "yes" }, /scheduled is true or false/],
    ];
    for (const [patch, message] of bad) await expectDomainError(campaign(t.company, patch), 400, message);
    // a one-day campaign (the same local date for start and end) is fine: the whole day
    const oneDay = await campaign(t.company, { start_date: "2027-03-05", end_date: "2027-03-05", scheduled: false });
    expect(new Date(oneDay.end_date).getTime() - new Date(oneDay.start_date).getTime()).toBe(DAY);
    // an edit with a bad value changes nothing
    const before = await rows(`select * from public.campaigns where id = $1`, [oneDay.id]);
    for (const [patch, message] of bad.filter(([p]) => !("scheduled" in p) && !("name" in p && p.name === ""))) {
      await expectDomainError(call("update_campaign", { p_company_id: t.company, p_campaign_id: oneDay.id, p_campaign: patch }), 400, message);
    }
    await expectDomainError(call("update_campaign", { p_company_id: t.company, p_campaign_id: oneDay.id, p_campaign: { name: " " } }), 400, /name/);
    expect(await rows(`select * from public.campaigns where id = $1`, [oneDay.id])).toEqual(before);
    await rows(`delete from public.campaigns where id = $1`, [oneDay.id]);
    // a milestone can't count within another company's campaign
    const other = await company();
    const theirs = await campaign(other.company);
    await expectDomainError(
      call("create_reward", { p_company_id: t.company, p_reward: { name: "x", threshold: 1, reward_type: "points", reward_data: { points: 1 }, campaign_id: theirs.id } }),
      400,
      /No such campaign/,
    );
    await expectDomainError(call("create_reward", { p_company_id: t.company, p_reward: { name: "x", threshold: 1, reward_type: "product_unlock", reward_data: { plan_id: "prod_1" } } }), 400, /plan id/);
    await expectDomainError(call("create_reward", { p_company_id: t.company, p_reward: { name: "x", threshold: 0, reward_type: "points", reward_data: { points: 1 } } }), 400, /threshold/);
    await expectDomainError(call("create_reward", { p_company_id: t.company, p_reward: { name: "x", threshold: 2, reward_type: "commission", reward_data: { amount_cents: 1 } } }), 400, /Unknown reward type/);
    await expectDomainError(call("create_reward", { p_company_id: t.company, p_reward: { name: "x", threshold: 2, reward_type: "discount", reward_data: { percent_off: 101 } } }), 400, /1 to 100/);
    expect(await rows(`select 1 from public.campaigns where company_id = $1 union all select 1 from public.rewards where company_id = $1`, [t.company])).toEqual([]);
  });
});

describe("milestones", () => {
  const reward = (companyId: string, r: Record<string, unknown>): Promise<Json> => call("create_reward", { p_company_id: companyId, p_reward: r });

  it("conversions crossing a threshold together make exactly one redemption", async () => {
    const t = await company();
    await reward(t.company, { name: "Two", threshold: 2, reward_type: "points", reward_data: { points: 200 } });
    await reward(t.company, { name: "Off", threshold: 1, reward_type: "points", reward_data: { points: 1 }, is_active: false });
    await buy(t.company, t.referrer, t.referee);
    const code = await codeOf(t.company, t.referrer);
    const backends = Array.from({ length: 4 }, () => createPgBackend(inject("sqlDbUrl"), 1));
    try {
      await Promise.all(backends.map((b) => call("process_webhook_event", { p_event_id: uid("evt_"), p_type: "payment.succeeded", p_company_id: t.company, p_data: paymentData({ user: uid("user_c"), total: 10, code }) }, b)));
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
    const r = await redemptions(t.company);
    expect(r.map((x: Json) => [x.name, x.status])).toEqual([["Two", "granted"]]);
    expect((await points(t.company, t.referrer)).filter((p: Json) => p.points_type === "MILESTONE_REWARD")).toEqual([{ points_type: "MILESTONE_REWARD", points: 200 }]);
    const w = await rows<Json>(`select name, unlocked from public.rewards where company_id = $1 order by name`, [t.company]);
    expect(w).toEqual([{ name: "Off", unlocked: 0 }, { name: "Two", unlocked: 1 }]);
  });

  it("two referees of one referrer paying at once in a campaign cross its milestone once, and count twice", async () => {
    const t = await company();
    const c = await campaign(t.company);
    await reward(t.company, { name: "Sprint two", threshold: 2, reward_type: "custom", reward_data: { note: "a call" }, campaign_id: c.id });
    await reward(t.company, { name: "All-time two", threshold: 2, reward_type: "discount", reward_data: { percent_off: 10 } });
    const code = await codeOf(t.company, t.referrer);
    for (let round = 0; round < 3; round++) {
      const backends = [createPgBackend(inject("sqlDbUrl"), 1), createPgBackend(inject("sqlDbUrl"), 1)];
      try {
        await Promise.all(backends.map((b) => call("process_webhook_event", { p_event_id: uid("evt_"), p_type: "payment.succeeded", p_company_id: t.company, p_data: paymentData({ user: uid("user_c"), total: 10, code }) }, b)));
      } finally {
        await Promise.all(backends.map((b) => b.close()));
      }
    }
    expect((await redemptions(t.company)).map((r: Json) => [r.name, r.status, r.requested]).sort()).toEqual([
      ["All-time two", "pending", true],
      ["Sprint two", "pending", true],
    ]);
    expect((await campaignRow(c.id)).total_referrals).toBe(6);
    expect(await tally(c.id)).toEqual([{ user_id: t.referrer, conversions: 6, place: null }]);
    expect((await call("list_rewards", { p_company_id: t.company })).map((r: Json) => [r.name, r.unlocked, r.campaign_name])).toEqual([
      ["Sprint two", 1, "Sprint"],
      ["All-time two", 1, null],
    ]);
  });

  it("auto_apply discount waits for Whop; a claim-it reward waits for the member; failure → retry → granted → claimed", async () => {
    const t = await company();
    await reward(t.company, { name: "Half off", threshold: 1, reward_type: "discount", reward_data: { percent_off: 50, plan_ids: ["plan_a"] } });
    await reward(t.company, { name: "Claim me", threshold: 1, reward_type: "points", reward_data: { points: 40 }, auto_apply: false });
    await buy(t.company, t.referrer, t.referee);
    const [auto, claim] = await redemptions(t.company, t.referrer).then((r) => [r.find((x: Json) => x.name === "Half off"), r.find((x: Json) => x.name === "Claim me")]);
    expect([auto.status, auto.requested, claim.status, claim.requested]).toEqual(["pending", true, "pending", false]);
    expect((await call("due_reward_grants", { p_limit: 10, p_company_id: t.company })).map((d: Json) => d.id)).toEqual([auto.id]);
    // someone else can't claim it
    await expectDomainError(call("claim_reward", { p_company_id: t.company, p_user_id: t.other, p_redemption_id: claim.id }), 404, /No such reward/);
    const claimed = await call("claim_reward", { p_company_id: t.company, p_user_id: t.referrer, p_redemption_id: claim.id });
    expect(claimed.status).toBe("granted");
    await expectDomainError(call("claim_reward", { p_company_id: t.company, p_user_id: t.referrer, p_redemption_id: claim.id }), 409, /already claimed/);
    // Whop refuses, the creator retries, Whop grants
    const failed = await call("settle_reward_redemption", { p_company_id: t.company, p_redemption_id: auto.id, p_status: "failed", p_result: null, p_error: "plan not found" });
    expect([failed.status, failed.error_message, failed.attempts]).toEqual(["failed", "plan not found", 1]);
    expect(await call("due_reward_grants", { p_limit: 10, p_company_id: t.company })).toEqual([]); // backing off
    await expectDomainError(call("mark_reward_claimed", { p_company_id: t.company, p_user_id: t.referrer, p_redemption_id: auto.id }), 409, /granted/);
    await call("retry_reward_redemption", { p_company_id: t.company, p_redemption_id: auto.id });
    const granted = await call("settle_reward_redemption", {
      p_company_id: t.company, p_redemption_id: auto.id, p_status: "granted", p_result: { promo_code: "RFX", promo_code_id: "promo_abc" }, p_error: null,
    });
    expect([granted.status, granted.result.promo_code, granted.error_message]).toEqual(["granted", "RFX", null]);
    await expectDomainError(
      call("settle_reward_redemption", { p_company_id: t.company, p_redemption_id: auto.id, p_status: "failed", p_result: null, p_error: "late" }),
      409,
      /granted/,
    );
    await expectDomainError(call("retry_reward_redemption", { p_company_id: t.company, p_redemption_id: auto.id }), 409, /Only a failed/);
    // someone else paying with the code doesn't mark it used; the member paying with it does
    await pay(t.company, { ...paymentData({ user: t.other, total: 25 }), promo_code: { id: "promo_abc" } } as ReturnType<typeof paymentData>);
    expect((await redemptions(t.company, t.referrer)).find((x: Json) => x.name === "Half off").status).toBe("granted");
    await pay(t.company, { ...paymentData({ user: t.referrer, total: 25 }), promo_code: { id: "promo_abc" } } as ReturnType<typeof paymentData>);
    expect((await redemptions(t.company, t.referrer)).find((x: Json) => x.name === "Half off").status).toBe("claimed");
    // the member marks the granted points reward used; only theirs, only once
    await expectDomainError(call("mark_reward_claimed", { p_company_id: t.company, p_user_id: t.other, p_redemption_id: claim.id }), 404, /No such reward/);
    const used = await call("mark_reward_claimed", { p_company_id: t.company, p_user_id: t.referrer, p_redemption_id: claim.id });
    expect([used.status, used.claimed_at !== null]).toEqual(["claimed", true]);
    await expectDomainError(call("mark_reward_claimed", { p_company_id: t.company, p_user_id: t.referrer, p_redemption_id: claim.id }), 409, /granted/);
    // the points were granted once, at the claim
    expect((await points(t.company, t.referrer)).filter((p: Json) => p.points_type === "MILESTONE_REWARD")).toEqual([{ points_type: "MILESTONE_REWARD", points: 40 }]);
    // the member's view: both unlocked, with their statuses and the code
    const mine = await call("get_member_rewards", { p_company_id: t.company, p_user_id: t.referrer });
    expect(mine.unlocked.map((u: Json) => [u.name, u.status, u.result?.promo_code ?? null]).sort()).toEqual([["Claim me", "claimed", null], ["Half off", "claimed", "RFX"]]);
  });

  it("a campaign's milestone counts only that campaign's conversions; a full refund before the grant withdraws it, a granted one stays", async () => {
    const t = await company();
    await buy(t.company, t.referrer, t.referee); // before the campaign
    const c = await campaign(t.company);
    await reward(t.company, { name: "In sprint", threshold: 1, reward_type: "custom", reward_data: { note: "shout-out" }, campaign_id: c.id });
    await reward(t.company, { name: "Three", threshold: 3, reward_type: "discount", reward_data: { amount_off_cents: 500 }, auto_apply: false });
    await reward(t.company, { name: "Two", threshold: 2, reward_type: "points", reward_data: { points: 20 } });
    expect(await redemptions(t.company)).toEqual([]);
    const b = await buy(t.company, t.referrer, t.other); // in the campaign: its 1st, all-time 2nd
    expect((await redemptions(t.company)).map((r: Json) => [r.name, r.status]).sort()).toEqual([["In sprint", "pending"], ["Two", "granted"]]);
    const third = await buy(t.company, t.referrer, uid("user_d")); // all-time 3rd
    expect((await redemptions(t.company)).map((r: Json) => r.name).sort()).toEqual(["In sprint", "Three", "Two"]);
    // the 3rd is refunded in full before "Three" was claimed: withdrawn; "Two" (granted) stays
    await refund(t.company, third.id, 100);
    expect((await redemptions(t.company)).map((r: Json) => r.name).sort()).toEqual(["In sprint", "Two"]);
    // the campaign's only conversion refunded: the custom one (not granted) is withdrawn too
    await refund(t.company, b.id, 100);
    expect((await redemptions(t.company)).map((r: Json) => r.name)).toEqual(["Two"]);
    expect((await call("list_rewards", { p_company_id: t.company })).map((w: Json) => [w.name, w.unlocked])).toEqual([["In sprint", 0], ["Three", 0], ["Two", 1]]);
    const member = await call("get_member_rewards", { p_company_id: t.company, p_user_id: t.referrer });
    expect(member.conversions).toBe(1);
    expect(member.milestones.map((m: Json) => [m.name, m.progress, m.remaining])).toEqual([["Two", 1, 1], ["Three", 1, 2], ["In sprint", 0, 1]]);
    expect(member.campaign).toMatchObject({ id: c.id, conversions: 0, place: null });
  });
});
