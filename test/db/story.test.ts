/**
 * The gamification story, step by step, on the test Postgres: Rahul refers
 * BoomEbox; BoomEbox subscribes and Rahul earns $20, his streak starts; his 3rd referral drops
 * 200 credits; the leaderboard job ranks him #1; his monthly challenge advances; at payout
 * time a payout row and its ledger row; after 7 quiet days the streak job ends his streak.
 * Every event goes through the production SQL functions (process_webhook_event, request_payout,
 * start_payout, complete_payout, the jobs); after each step the seed's tables are asserted:
 * referrals, commissions, transactions, payouts, referral_clicks (events and ledger);
 * referral_stats (+ member_money), referral_streaks, referral_tiers (snapshots);
 * referral_rewards, referral_leaderboard, referral_challenges (gamification).
 *
 * Settings: 20 % commission, no hold, streaks on (+10 % a step), tiers on (Bronze 0, Silver 3
 * with +5 %), a milestone "Third referral" of 200 points at 3, a challenge "September
 * Challenge" of 5 conversions this month.
 */
import { afterAll, describe, expect, it } from "vitest";
import { call, codeOf, paymentData, sqlDb, sqlRows as rows, uid, webhook } from "../helpers";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

afterAll(async () => {
  await sqlDb().close();
});

const s = uid();
const company = `biz_story${s}`;
const rahul = `user_rahul${s}`;
const referees = ["boomebox", "ada", "linus"].map((n) => ({ id: `user_${n}${s}`, username: n }));

const one = async (text: string, params: unknown[] = []) => (await rows<Json>(text, params))[0];
const stats = () =>
  one(
    `select s.signups::int, s.conversions::int, s.active_referrals::int, m.earned_cents::int as commissions_cents, m.revenue_cents::int
     from public.referral_stats s left join public.member_money m using (company_id, user_id) where s.company_id = $1 and s.user_id = $2`,
    [company, rahul],
  );
const streak = () =>
  one(`select streak_active, current_streak, bonus_multiplier::text as multiplier, streak_expires_at - last_conversion_at as window
       from public.referral_streaks where company_id = $1 and user_id = $2`, [company, rahul]);
const tier = () => one(`select current_tier, best_conversions from public.referral_tiers where company_id = $1 and user_id = $2`, [company, rahul]);
const challenge = () =>
  one(`select challenge_name, target_referrals, achieved_referrals, status from public.referral_challenges where company_id = $1 and user_id = $2`, [
    company,
    rahul,
  ]);
const credits = () => rows<Json>(`select reward_type, reward_value::int as value, reason from public.referral_rewards where company_id = $1 and user_id = $2`, [company, rahul]);

/** A referee joins through Rahul's link (membership.activated with his code), then pays $100. */
async function referAndSubscribe(r: { id: string; username: string }, code: string) {
  await webhook(uid("evt_"), "membership.activated", company, {
    id: uid("mem_"),
    status: "active",
    user: { id: r.id, username: r.username, name: null },
    metadata: { referral_code: code },
  });
  const data = paymentData({ user: r.id, total: 100 });
  await webhook(uid("evt_"), "payment.succeeded", company, data);
  return data.id;
}

describe("Rahul refers BoomEbox", () => {
  let code = "";
  const payments: string[] = [];

  it("set-up: the program, a milestone and the September challenge", async () => {
    await call("update_program_settings", {
      p_company_id: company,
      p_settings: {
        commission_rate_bp: 2000,
        hold_days: 0,
        min_payout_cents: 1000,
        fraud_mode: "off",
        ledger_account_id: "ldgr_story",
        points_welcome: 0,
        points_first_payment: 0,
        streaks_enabled: true,
        streak_step_pct: 10,
        streak_cap_pct: 50,
        tiers_enabled: true,
        tiers: [
          { name: "Bronze", min_conversions: 0, bonus_pct: 0 },
          { name: "Silver", min_conversions: 3, bonus_pct: 5 },
        ],
      },
    });
    await call("create_reward", { p_company_id: company, p_reward: { name: "Third referral", threshold: 3, reward_type: "points", reward_data: { points: 200 } } });
    await call("create_challenge", {
      p_company_id: company,
      p_challenge: { challenge_name: "September Challenge", target_referrals: 5, period: "month", reward_type: "points", reward_data: { points: 500 } },
    });
    code = await codeOf(company, rahul, "rahul");
    expect(code).toMatch(/^RAHUL/);
  });

  it("1. Rahul refers BoomEbox: a referral row, referral_stats counts the signup (no conversion, no streak yet)", async () => {
    await webhook(uid("evt_"), "membership.activated", company, {
      id: uid("mem_"),
      status: "active",
      user: { id: referees[0].id, username: "boomebox", name: null },
      metadata: { referral_code: code },
    });
    expect(await one(`select referrer_user_id, status from public.referrals where company_id = $1 and referee_user_id = $2`, [company, referees[0].id])).toEqual({
      referrer_user_id: rahul,
      status: "pending",
    });
    expect(await stats()).toEqual({ signups: 1, conversions: 0, active_referrals: 0, commissions_cents: 0, revenue_cents: 0 });
    expect(await streak()).toBeUndefined();
  });

  it("2. BoomEbox subscribes: a $20 commission and its ledger rows, stats move, the streak starts (×1.00, 7 days), tier Bronze", async () => {
    const data = paymentData({ user: referees[0].id, total: 100 });
    await webhook(uid("evt_"), "payment.succeeded", company, data);
    payments.push(data.id);
    expect(await one(`select amount_cents::int, rate_bp, streak_multiplier::text, status from public.commissions where payment_id = $1`, [data.id])).toEqual({
      amount_cents: 2000,
      rate_bp: 2000,
      streak_multiplier: "1.00",
      status: "available",
    });
    expect(await rows(`select kind, user_id, amount_cents::int from public.transactions where company_id = $1 and kind <> 'points' order by created_at, kind desc`, [company])).toEqual([
      { kind: "payment", user_id: referees[0].id, amount_cents: 10000 },
      { kind: "commission", user_id: rahul, amount_cents: 2000 },
    ]);
    expect(await stats()).toEqual({ signups: 1, conversions: 1, active_referrals: 1, commissions_cents: 2000, revenue_cents: 10000 });
    expect(await streak()).toEqual({ streak_active: true, current_streak: 1, multiplier: "1.00", window: { days: 7 } });
    expect(await tier()).toEqual({ current_tier: "Bronze", best_conversions: 1 });
    expect(await one(`select converted from public.referral_clicks where company_id = $1`, [company])).toBeUndefined(); // joined by code, no click
  });

  it("3. the 3rd referral drops 200 credits; the streak pays ×1.10 then ×1.20; Silver's +5 % from the 3rd", async () => {
    payments.push(await referAndSubscribe(referees[1], code));
    expect(await credits()).toEqual([]);
    payments.push(await referAndSubscribe(referees[2], code));
    expect(await credits()).toEqual([{ reward_type: "credits", value: 200, reason: "milestone" }]);
    expect(await one(`select balance::int from public.points_balances where company_id = $1 and user_id = $2`, [company, rahul])).toEqual({ balance: 200 });
    // $100 × 20 % × 1.1 = $22.00; $100 × 25 % × 1.2 = $30.00
    expect(await rows(`select amount_cents::int, tier_bonus_bp, streak_multiplier::text from public.commissions where company_id = $1 order by created_at`, [company])).toEqual([
      { amount_cents: 2000, tier_bonus_bp: 0, streak_multiplier: "1.00" },
      { amount_cents: 2200, tier_bonus_bp: 0, streak_multiplier: "1.10" },
      { amount_cents: 3000, tier_bonus_bp: 500, streak_multiplier: "1.20" },
    ]);
    expect(await tier()).toEqual({ current_tier: "Silver", best_conversions: 3 });
    expect(await stats()).toEqual({ signups: 3, conversions: 3, active_referrals: 3, commissions_cents: 7200, revenue_cents: 30000 });
  });

  it("4. the leaderboard: Rahul is #1 this week; the job freezes the week once it has ended", async () => {
    const board = await call("get_leaderboard", { p_company_id: company, p_viewer: rahul, p_period: "week", p_creator: false });
    expect([board.you, board.top[0].name]).toEqual([{ rank: 1, conversions: 3 }, "rahul"]);
    // a week later (the referrals and rollups dated back a week), the job freezes it
    await rows(`update public.referrals set counted_at = counted_at - interval '7 days' where company_id = $1`, [company]);
    await rows(`update public.member_daily set day = day - 7 where company_id = $1`, [company]);
    await call("rebuild_leaderboards", { p_company_id: company });
    await call("snapshot_leaderboards", {});
    await rows(`update public.member_daily set day = day + 7 where company_id = $1`, [company]); // back to the real days
    expect(await rows(`select rank, total_referrals, total_commissions_cents::int as c from public.referral_leaderboard where company_id = $1 and period = 'week'`, [company])).toEqual([
      { rank: 1, total_referrals: 3, c: 7200 },
    ]);
    expect((await call("get_leaderboard", { p_company_id: company, p_viewer: rahul, p_period: "week", p_creator: false })).previous).toEqual({ rank: 1, conversions: 3 });
  });

  it("5. the September Challenge advances: 3 of 5, active", async () => {
    expect(await challenge()).toEqual({ challenge_name: "September Challenge", target_referrals: 5, achieved_referrals: 3, status: "active" });
  });

  it("6. at payout time: a payout row and a payout ledger row; the commissions are paid", async () => {
    const requested = await call("request_payout", { p_company_id: company, p_user_id: rahul });
    await call("start_payout", { p_company_id: company, p_payout_id: requested.id });
    const done = await call("complete_payout", { p_company_id: company, p_payout_id: requested.id, p_transfer_id: "xfer_story" });
    expect([done.status, done.amount_cents]).toEqual(["completed", 7200]);
    expect(await one(`select kind, amount_cents::int, reference_id from public.transactions where company_id = $1 and kind = 'payout'`, [company])).toEqual({
      kind: "payout",
      amount_cents: -7200,
      reference_id: requested.id,
    });
    expect(await rows(`select distinct status from public.commissions where company_id = $1`, [company])).toEqual([{ status: "paid" }]);
    expect(await one(`select kind from public.notifications where company_id = $1 and kind = 'payout_sent'`, [company])).toEqual({ kind: "payout_sent" });
  });

  it("7. after 7 quiet days the streak job ends the streak; the tier stays", async () => {
    await rows(`update public.referral_streaks set streak_expires_at = streak_expires_at - interval '7 days', last_conversion_at = last_conversion_at - interval '7 days'
                where company_id = $1`, [company]);
    expect(await call("expire_streaks", {})).toBeGreaterThanOrEqual(1);
    expect(await streak()).toMatchObject({ streak_active: false, current_streak: 3 });
    expect((await call("get_member_gamification", { p_company_id: company, p_user_id: rahul })).streak).toMatchObject({ active: false, multiplier: 1 });
    expect(await tier()).toEqual({ current_tier: "Silver", best_conversions: 3 });
  });

  it("the rollups and the boards agree with their recomputation from the source rows", async () => {
    expect((await call("check_analytics", { p_company_id: company })).ok).toBe(true);
  });
});
