/**
 * Analytics of one program, every figure to the cent: five referrers with every kind of event,
 * then the Overview (KPIs of a period and the one before, daily and weekly series, owed, top
 * members, traffic sources and countries), the members list, member detail, the commission,
 * referral and payout lists with their filters and pages, and the program's time zone.
 * The tests run in order on one program: the first seeds it.
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses. Data is seeded only through the real SQL functions; to put rows on
 * given days the test moves their timestamps in SQL and rebuilds the rollups (the ledger is
 * append-only, so its rows are moved with triggers off for that transaction only).
 * check_analytics must be ok after every scenario. Set-up lives in test/world.ts and
 * test/db/analytics.world.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { call, codeOf, expectDomainError, ids, sqlDb, sqlRows as rows, uid } from "../helpers";
import { check, earnings, expectConsistent, refund, settings } from "../world";
import {
  sql,
  type Json,
  rebuild,
  overview,
  list,
  pages,
  detail,
  memberRow,
  wallet,
  click,
  buy,
  membership,
  dispute,
  moveMember,
  series,
  ZERO_KPIS,
  todayUtc,
  keysetOrder,
} from "./analytics.world";

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

// ── 1. one program, every figure ────────────────────────────────────────────

/**
 * Five referrers and their referees, with every kind of event:
 *   alice  4 counted clicks (+ a repeat and a bot), ann pays 100.00 (click k1) and renews
 *          50.00, amy signs up through click k2 then pays 49.99, ari only signs up; a 25.00
 *          refund of ann's first payment; the renewal's commission is released and requested
 *          as a payout (open);
 *   bob    2 clicks, ben pays 80.00; released, paid out (requested, started, completed), then a
 *          40.00 dispute claws back 8.00;
 *   carol  1 click, cat pays 30.00; the creator cancels the commission; cat's membership ends;
 *   dave   dan pays 10.01; dan's membership ends, he renews 10.00, his membership comes back;
 *   erin   1 click, then her code is switched off (no click, no attribution, no claim), then on
 *          again: 1 click, eli pays 20.00 through it.
 */
// The tests of this block run in order on one program: the first seeds it.
describe("one program: every figure to the cent", () => {
  const s = uid();
  const company = `biz_${s}`;
  const [alice, bob, carol, dave, erin] = ["a", "b", "c", "d", "e"].map((x) => `user_${x}${s}`);
  const buyer = (tag: string) => `user_r${tag}${s}`;
  const [ann, amy, ari, ben, cat, dan, eve, eli] = ["a1", "a2", "a3", "b1", "c1", "d1", "e1", "e2"].map(buyer);
  const usernames: Record<string, string> = {
    [alice]: "alice",
    [bob]: "bob",
    [carol]: "carol",
    [dave]: "dave",
    [erin]: "erin",
    [ann]: "ann",
    [amy]: "amy",
    [ari]: "ari",
    [ben]: "ben",
    [cat]: "cat",
    [dan]: "dan",
    [eli]: "eli",
  };
  const code: Record<string, string> = {};
  const pays: Record<string, string> = {};
  const clicks: Record<string, string> = {};
  let disputeId = "";
  /** dave's active_referrals through deactivation and reactivation */
  const daveActive: number[] = [];
  let danStatusWhileInactive = "";
  let bobPayout = "";
  let alicePayout = "";

  /** The member rows every later step must show (list_members, get_member_detail). */
  const referrerRows = () => ({
    [alice]: {
      clicks: 4, signups: 3, conversions: 2, active_referrals: 2, revenue_cents: 19999, earned_cents: 3500,
      paid_cents: 0, available_cents: 0, pending_cents: 2500, on_hold_cents: 0, points: 1100,
    },
    [bob]: {
      clicks: 2, signups: 1, conversions: 1, active_referrals: 1, revenue_cents: 8000, earned_cents: 800,
      paid_cents: 1600, available_cents: -800, pending_cents: 0, on_hold_cents: 0, points: 500,
    },
    [carol]: {
      clicks: 1, signups: 1, conversions: 1, active_referrals: 0, revenue_cents: 3000, earned_cents: 0,
      paid_cents: 0, available_cents: 0, pending_cents: 0, on_hold_cents: 0, points: 500,
    },
    [dave]: {
      clicks: 0, signups: 1, conversions: 1, active_referrals: 1, revenue_cents: 2001, earned_cents: 400,
      paid_cents: 0, available_cents: 0, pending_cents: 400, on_hold_cents: 0, points: 600,
    },
    [erin]: {
      clicks: 2, signups: 1, conversions: 1, active_referrals: 1, revenue_cents: 2000, earned_cents: 400,
      paid_cents: 0, available_cents: 0, pending_cents: 400, on_hold_cents: 0, points: 500,
    },
  });
  const refereePoints: Record<string, number> = { [ann]: 100, [amy]: 100, [ari]: 0, [ben]: 100, [cat]: 100, [dan]: 100, [eli]: 100 };

  function expectedMemberRows() {
    const zero = {
      clicks: 0, signups: 0, conversions: 0, active_referrals: 0, revenue_cents: 0, earned_cents: 0,
      paid_cents: 0, available_cents: 0, pending_cents: 0, on_hold_cents: 0,
    };
    const r = referrerRows();
    const referrers = Object.entries(r).map(([user_id, v]) => ({
      user_id, username: usernames[user_id], code: code[user_id], code_active: true, ...v, joined_at: expect.any(String),
    }));
    const referees = Object.entries(refereePoints).map(([user_id, points]) => ({
      user_id, username: usernames[user_id], code: null, code_active: null, ...zero, points, joined_at: expect.any(String),
    }));
    return [...referrers, ...referees];
  }

  it("seeds the program through the real SQL functions; check_analytics is ok", async () => {
    await settings(company, { ledger_account_id: "ldgr_test" }); // 20 %, 14-day hold, $10 minimum, USD
    for (const u of [alice, bob, carol, dave, erin]) code[u] = await codeOf(company, u, usernames[u]);

    // clicks: sources and countries
    const counted = async (p: Promise<Json>, key?: string) => {
      const r = await p;
      expect(r).toMatchObject({ found: true, counted: true, company_id: company });
      if (key) clicks[key] = r.click_id;
    };
    await counted(click(code[alice], `v1${s}`, "https://www.twitter.com/alice/status/1", "US"), "k1");
    await counted(click(code[alice], `v2${s}`, "https://twitter.com/i/web", "US"), "k2");
    await counted(click(code[alice], `v3${s}`, "https://t.co/abc", "GB"), "k3");
    await counted(click(code[alice].toLowerCase(), `v4${s}`, null, null), "k4");
    expect(await click(code[alice], `v1${s}`, "https://www.twitter.com/again", "US")).toMatchObject({ counted: false });
    expect(await click(code[alice], `bot${s}`, "https://google.com/", "US", true)).toMatchObject({ counted: false });
    await counted(click(code[bob], `v5${s}`, "https://www.youtube.com/watch?v=1", "DE"));
    await counted(click(code[bob], `v6${s}`, "", null));
    await counted(click(code[carol], `v7${s}`, "https://WWW.Reddit.com/r/x", "US"));
    await counted(click(code[erin], `v8${s}`, "android-app://com.google.android.gm/", "FR"), "ke1");

    // alice
    const a1 = await buy(company, ann, "ann", 100, { referral_code: code[alice], click_id: clicks.k1 });
    expect(a1.outcome).toBe("commission_created");
    pays.a1 = a1.id;
    const a1r = await buy(company, ann, "ann", 50);
    expect(a1r.outcome).toBe("commission_created");
    pays.a1r = a1r.id;
    expect(await membership("membership.activated", company, amy, "amy", { referral_code: code[alice], click_id: clicks.k2 })).toEqual({
      duplicate: false,
      outcome: "signup_counted",
    });
    const a2 = await buy(company, amy, "amy", 49.99);
    expect(a2.outcome).toBe("commission_created");
    pays.a2 = a2.id;
    expect((await membership("membership.activated", company, ari, "ari", { referral_code: code[alice] })).outcome).toBe(
      "signup_counted",
    );
    // 25.00 of ann's 100.00: 2000 × 25 / 100 = 500 reversed from the pending commission
    expect((await refund(company, pays.a1, 25)).outcome).toBe("refund_reversed");

    // bob
    const b1 = await buy(company, ben, "ben", 80, { referral_code: code[bob] });
    expect(b1.outcome).toBe("commission_created");
    pays.b1 = b1.id;

    // carol: the creator cancels the commission; cat's membership ends
    const c1 = await buy(company, cat, "cat", 30, { referral_code: code[carol] });
    expect(c1.outcome).toBe("commission_created");
    pays.c1 = c1.id;
    const [cc] = await rows<{ id: string }>(`select id::text from public.commissions where company_id = $1 and payment_id = $2`, [
      company,
      pays.c1,
    ]);
    const decided = await call("decide_commission", {
      p_company_id: company,
      p_commission_id: cc.id,
      p_decision: "cancel",
      p_reason: "test purchase",
    });
    expect(decided).toMatchObject({ status: "cancelled", amount_cents: 600, reason: "test purchase" });
    expect((await membership("membership.deactivated", company, cat, "cat")).outcome).toBe("referral_deactivated");

    // dave: deactivated, renews anyway, activated again
    const d1 = await buy(company, dan, "dan", 10.01, { referral_code: code[dave] });
    expect(d1.outcome).toBe("commission_created");
    pays.d1 = d1.id;
    daveActive.push((await memberRow(company, dave)).active_referrals);
    expect((await membership("membership.deactivated", company, dan, "dan")).outcome).toBe("referral_deactivated");
    expect((await membership("membership.deactivated", company, dan, "dan")).outcome).toBe("no_active_referral");
    daveActive.push((await memberRow(company, dave)).active_referrals);
    danStatusWhileInactive = (await list("list_referrals", company, { member: dave })).rows[0].status;
    const d1r = await buy(company, dan, "dan", 10);
    expect(d1r.outcome).toBe("commission_created");
    pays.d1r = d1r.id;
    daveActive.push((await memberRow(company, dave)).active_referrals);
    expect((await membership("membership.activated", company, dan, "dan")).outcome).toBe("referral_reactivated");
    daveActive.push((await memberRow(company, dave)).active_referrals);

    // erin: code off, then on
    expect(await call("set_code_active", { p_company_id: company, p_user_id: erin, p_active: false })).toEqual({
      code: code[erin],
      is_active: false,
    });
    expect(await click(code[erin], `v9${s}`, "https://news.ycombinator.com/", "US")).toEqual({ found: false });
    expect((await buy(company, eve, "eve", 15, { referral_code: code[erin] })).outcome).toBe("no_attribution");
    expect((await buy(company, eve, "eve", 15, { click_id: clicks.ke1 })).outcome).toBe("no_attribution");
    await expectDomainError(
      call("claim_referral", { p_company_id: company, p_user_id: eve, p_code: code[erin], p_username: "eve" }),
      404,
      `No referral code "${code[erin]}" in this community`,
    );
    expect(await call("set_code_active", { p_company_id: company, p_user_id: erin, p_active: true })).toEqual({
      code: code[erin],
      is_active: true,
    });
    await counted(click(code[erin], `v10${s}`, "https://news.ycombinator.com/item?id=1", "US"), "ke2");
    const e2 = await buy(company, eli, "eli", 20, { referral_code: code[erin], click_id: clicks.ke2 });
    expect(e2.outcome).toBe("commission_created");
    pays.e2 = e2.id;

    // release ann's renewal and ben's commission (their hold is over)
    await sql.query(
      `update public.commissions set available_at = now() - interval '1 minute' where company_id = $1 and payment_id = any($2)`,
      [company, [pays.a1r, pays.b1]],
    );
    expect(await call("release_commissions", {})).toBeGreaterThanOrEqual(2);

    // bob is paid 16.00, then a 40.00 dispute of ben's 80.00 claws back 8.00
    const po = await call("request_payout", { p_company_id: company, p_user_id: bob });
    expect(po).toMatchObject({ status: "requested", amount_cents: 1600, currency: "USD" });
    bobPayout = po.id;
    expect(await call("start_payout", { p_company_id: company, p_payout_id: po.id })).toMatchObject({
      status: "processing",
      amount_cents: 1600,
    });
    expect(
      await call("complete_payout", { p_company_id: company, p_payout_id: po.id, p_transfer_id: `xfer_${s}` }),
    ).toMatchObject({ status: "completed", whop_transfer_id: `xfer_${s}` });
    disputeId = uid("dspt_");
    expect((await dispute(company, disputeId, pays.b1, 40)).outcome).toBe("dispute_reversed");

    // alice asks for her available 10.00 (exactly the minimum): it stays open
    const apo = await call("request_payout", { p_company_id: company, p_user_id: alice });
    expect(apo).toMatchObject({ status: "requested", amount_cents: 1000 });
    alicePayout = apo.id;

    await expectConsistent(company, "after seeding through the triggers");
  });

  it("the commission rows are what the events made", async () => {
    const cs = await rows(
      `select beneficiary_user_id as who, payment_id, kind, base_amount_cents::int as base, amount_cents::int as amount,
              reversed_cents::int as reversed, status, payout_id is not null as in_payout
       from public.commissions where company_id = $1 order by beneficiary_user_id, kind, amount_cents desc, payment_id`,
      [company],
    );
    const sorted = [
      { who: alice, payment_id: pays.a1, kind: "commission", base: 10000, amount: 2000, reversed: 500, status: "pending", in_payout: false },
      ...[
        { who: alice, payment_id: pays.a1r, kind: "commission", base: 5000, amount: 1000, reversed: 0, status: "available", in_payout: true },
        { who: alice, payment_id: pays.a2, kind: "commission", base: 4999, amount: 1000, reversed: 0, status: "pending", in_payout: false },
      ].sort((x, y) => (x.payment_id < y.payment_id ? -1 : 1)),
      { who: bob, payment_id: pays.b1, kind: "clawback", base: 0, amount: -800, reversed: 0, status: "available", in_payout: false },
      { who: bob, payment_id: pays.b1, kind: "commission", base: 8000, amount: 1600, reversed: 0, status: "paid", in_payout: true },
      { who: carol, payment_id: pays.c1, kind: "commission", base: 3000, amount: 600, reversed: 0, status: "cancelled", in_payout: false },
      ...[
        { who: dave, payment_id: pays.d1, kind: "commission", base: 1001, amount: 200, reversed: 0, status: "pending", in_payout: false },
        { who: dave, payment_id: pays.d1r, kind: "commission", base: 1000, amount: 200, reversed: 0, status: "pending", in_payout: false },
      ].sort((x, y) => (x.payment_id < y.payment_id ? -1 : 1)),
      { who: erin, payment_id: pays.e2, kind: "commission", base: 2000, amount: 400, reversed: 0, status: "pending", in_payout: false },
    ];
    expect(cs).toEqual(sorted);
  });

  it("deactivation: dave's active referrals go 1 → 0 → 1, the referral stays converted and the renewal still earns", () => {
    // after the first payment, after deactivation, after the renewal while inactive, after activation
    expect(daveActive).toEqual([1, 0, 0, 1]);
    expect(danStatusWhileInactive).toBe("converted");
  });

  it("membership.activated marked amy's click converted; the unused clicks are not", async () => {
    const r = await rows<{ id: string; converted: boolean }>(
      `select id::text, converted from public.referral_clicks where id = any($1::uuid[])`,
      [[clicks.k1, clicks.k2, clicks.k3, clicks.k4]],
    );
    const byId = Object.fromEntries(r.map((x) => [x.id, x.converted]));
    expect(byId).toEqual({ [clicks.k1]: true, [clicks.k2]: true, [clicks.k3]: false, [clicks.k4]: false });
    const [ref] = await rows(`select click_id::text, signed_up_at is not null as signed_up, status from public.referrals
                              where company_id = $1 and referee_user_id = $2`, [company, amy]);
    expect(ref).toEqual({ click_id: clicks.k2, signed_up: true, status: "converted" });
  });

  it("the inactive code recorded no click and attributed nothing", async () => {
    const n = await rows(
      `select count(*)::int as n from public.referral_clicks k join public.referral_codes c on c.id = k.code_id
       where c.company_id = $1 and c.user_id = $2`,
      [company, erin],
    );
    expect(n).toEqual([{ n: 2 }]);
    expect(await rows(`select referral_id from public.payments where company_id = $1 and user_id = $2`, [company, eve])).toEqual([
      { referral_id: null },
      { referral_id: null },
    ]);
    expect(await rows(`select 1 from public.referrals where company_id = $1 and referee_user_id = $2`, [company, eve])).toEqual([]);
    // eve paid but has no code and no referral: not a member
    expect(await detail(company, eve)).toBeNull();
  });

  it("list_members: every member's counters, balances and points, sorted by conversions then user id", async () => {
    const page = await list("list_members", company, {});
    expect(page.next).toBeNull();
    const want = keysetOrder(expectedMemberRows(), (m) => m.conversions, (m) => m.user_id, "desc");
    expect(page.rows).toEqual(want);
    for (const m of want) expect(await memberRow(company, m.user_id)).toEqual(m);
  });

  it("member rows agree with get_user_referral_earnings, get_member_wallet and sums over the commission and payment rows", async () => {
    const sums = await rows<Record<string, number | string>>(
      `select beneficiary_user_id as user_id,
         coalesce(sum(amount_cents - reversed_cents) filter (where status = 'pending'), 0)::int as pending_cents,
         coalesce(sum(amount_cents - reversed_cents) filter (where status = 'available' and payout_id is null), 0)::int as available_cents,
         coalesce(sum(amount_cents - reversed_cents) filter (where status = 'available' and payout_id is not null), 0)::int as in_payout,
         coalesce(sum(amount_cents - reversed_cents) filter (where status = 'paid'), 0)::int as paid_cents,
         coalesce(sum(amount_cents - reversed_cents) filter (where status = 'on_hold'), 0)::int as on_hold_cents,
         coalesce(sum(amount_cents - reversed_cents) filter (where status in ('pending', 'available', 'paid')), 0)::int as earned_cents,
         (coalesce(sum(reversed_cents), 0) - coalesce(sum(amount_cents) filter (where kind = 'clawback'), 0))::int as reversed
       from public.commissions where company_id = $1 group by 1`,
      [company],
    );
    const revenue = await rows<{ user_id: string; revenue_cents: number }>(
      `select r.referrer_user_id as user_id, sum(p.amount_cents)::int as revenue_cents
       from public.payments p join public.referrals r on r.id = p.referral_id where p.company_id = $1 group by 1`,
      [company],
    );
    expect(sums).toHaveLength(5);
    for (const x of sums) {
      const who = x.user_id as string;
      const m = await memberRow(company, who);
      expect(m, usernames[who]).toMatchObject({
        pending_cents: x.pending_cents,
        available_cents: x.available_cents,
        paid_cents: x.paid_cents,
        on_hold_cents: x.on_hold_cents,
        earned_cents: x.earned_cents,
        revenue_cents: revenue.find((r) => r.user_id === who)!.revenue_cents,
      });
      // a member's earnings: total = pending + available + paid; pending = pending + available (in a payout included)
      expect(await earnings(company, who), usernames[who]).toEqual([
        {
          currency: "USD",
          total_earnings: x.earned_cents,
          pending_earnings: Number(x.pending_cents) + Number(x.available_cents) + Number(x.in_payout),
          paid_earnings: x.paid_cents,
        },
      ]);
      expect((await wallet(company, who)).balances, usernames[who]).toEqual({
        pending: x.pending_cents,
        available: Number(x.available_cents) + Number(x.in_payout),
        paid: x.paid_cents,
        on_hold: x.on_hold_cents,
        reversed: x.reversed,
      });
    }
    // the figures themselves
    expect(await earnings(company, alice)).toEqual([{ currency: "USD", total_earnings: 3500, pending_earnings: 3500, paid_earnings: 0 }]);
    expect(await earnings(company, bob)).toEqual([{ currency: "USD", total_earnings: 800, pending_earnings: -800, paid_earnings: 1600 }]);
    expect(await earnings(company, carol)).toEqual([{ currency: "USD", total_earnings: 0, pending_earnings: 0, paid_earnings: 0 }]);
    expect(await earnings(company, ann)).toEqual([]);
    const wa = await wallet(company, alice);
    expect(wa.balances).toEqual({ pending: 2500, available: 1000, paid: 0, on_hold: 0, reversed: 500 });
    expect(wa.payout).toEqual({ can_request: false, reason: "You have a payout in progress", available_cents: 0, min_payout_cents: 1000 });
    const wb = await wallet(company, bob);
    expect(wb.balances).toEqual({ pending: 0, available: -800, paid: 1600, on_hold: 0, reversed: 800 });
    expect(wb.payout).toEqual({
      can_request: false,
      reason: "Your balance is negative after a refund",
      available_cents: -800,
      min_payout_cents: 1000,
    });
  });

  it("get_member_detail: the member, who referred them, their referrals and payouts", async () => {
    const d = await detail(company, alice);
    expect(d.member).toEqual(expectedMemberRows()[0]);
    expect(d.referred_by).toBeNull();
    expect(
      d.referrals.map((r: Json) => [r.referee, r.status, r.active, r.source]).sort(),
    ).toEqual([
      ["amy", "converted", true, "link"],
      ["ann", "converted", true, "link"],
      ["ari", "pending", false, "link"],
    ]);
    expect(d.payouts).toMatchObject([{ id: alicePayout, amount_cents: 1000, currency: "USD", status: "requested", completed_at: null }]);
    expect(d.points.map((p: Json) => [p.type, p.points]).sort()).toEqual([
      ["REFERRAL_FIRST_PAYMENT", 500],
      ["REFERRAL_FIRST_PAYMENT", 500],
      ["REFERRAL_RECURRING", 100],
    ]);
    const dc = await detail(company, cat);
    expect(dc.referred_by).toEqual({ user_id: carol, username: "carol" });
    expect(dc.member).toMatchObject({ username: "cat", points: 100, conversions: 0 });
    expect((await detail(company, carol)).referrals).toMatchObject([{ referee: "cat", status: "converted", active: false }]);
  });

  it("get_overview of today (everything happened today): all figures, owed, tops, sources and countries", async () => {
    const today = await todayUtc();
    const o = await overview(company, today, today);
    const all = { clicks: 9, signups: 7, conversions: 6, revenue_cents: 35000, commissions_cents: 5100 };
    expect(o).toEqual({
      currency: "USD",
      timezone: "UTC",
      granularity: "day",
      kpis: { current: { ...all, paid_cents: 1600, active_referrers: 5 }, previous: ZERO_KPIS },
      // pending + available + on hold, net: alice 2500 + 1000 (in her payout), bob −800, dave 400, erin 400
      owed_cents: 3500,
      series: [{ bucket: today, ...all }],
      top_by_revenue: [
        { user_id: alice, username: "alice", revenue_cents: 19999, conversions: 2 },
        { user_id: bob, username: "bob", revenue_cents: 8000, conversions: 1 },
        { user_id: carol, username: "carol", revenue_cents: 3000, conversions: 1 },
        { user_id: dave, username: "dave", revenue_cents: 2001, conversions: 1 },
        { user_id: erin, username: "erin", revenue_cents: 2000, conversions: 1 },
      ],
      // ties by user id, descending
      top_by_conversions: [
        { user_id: alice, username: "alice", conversions: 2, revenue_cents: 19999 },
        { user_id: erin, username: "erin", conversions: 1, revenue_cents: 2000 },
        { user_id: dave, username: "dave", conversions: 1, revenue_cents: 2001 },
        { user_id: carol, username: "carol", conversions: 1, revenue_cents: 3000 },
        { user_id: bob, username: "bob", conversions: 1, revenue_cents: 8000 },
      ],
      sources: [
        { value: "(direct)", clicks: 2 },
        { value: "twitter.com", clicks: 2 },
        { value: "com.google.android.gm", clicks: 1 },
        { value: "news.ycombinator.com", clicks: 1 },
        { value: "reddit.com", clicks: 1 },
        { value: "t.co", clicks: 1 },
        { value: "youtube.com", clicks: 1 },
      ],
      countries: [
        { value: "US", clicks: 4 },
        { value: "??", clicks: 2 },
        { value: "DE", clicks: 1 },
        { value: "FR", clicks: 1 },
        { value: "GB", clicks: 1 },
      ],
    });
    // owed = Σ (amount − reversed) of pending, available and on-hold commission rows
    const [owed] = await rows(
      `select sum(amount_cents - reversed_cents)::int as n from public.commissions
       where company_id = $1 and status in ('pending', 'available', 'on_hold')`,
      [company],
    );
    expect(owed).toEqual({ n: o.owed_cents });
  });

  // the calendar: bob's activity on Mon 28 Sep (previous week), alice's on Thu 1 Oct (one click
  // on Wed 23 Sep, before both periods), carol's on Sat 3 Oct, dave's on Wed 7 Oct 22:00 UTC
  // (the last day), erin's on Thu 8 Oct (after the range)
  const AT = {
    [bob]: "2026-09-28T10:00:00Z",
    [alice]: "2026-10-01T10:00:00Z",
    [carol]: "2026-10-03T10:00:00Z",
    [dave]: "2026-10-07T22:00:00Z",
    [erin]: "2026-10-08T09:00:00Z",
  };

  it("rows moved onto a calendar: check_analytics sees the drift; rebuild_analytics fixes it and changes no member row", async () => {
    const before = (await list("list_members", company, {})).rows;
    for (const [who, ts] of Object.entries(AT)) await moveMember(company, who, ts);
    await sql.query(`update public.referral_clicks set created_at = '2026-09-23T12:00:00Z' where id = $1`, [clicks.k3]);
    // clicks, payments and ledger rows have no UPDATE trigger: the daily rollups now differ (at most 20 are listed)
    const drift = await check(company);
    expect(drift.ok).toBe(false);
    const tables = new Set(drift.differences.map((d: Json) => d.table));
    expect(tables.has("daily_stats")).toBe(true);
    expect([...tables].filter((x) => !["daily_stats", "member_daily", "daily_sources"].includes(x as string))).toEqual([]);
    expect(await rebuild(company)).toEqual({ rebuilt: company });
    await expectConsistent(company, "after rebuild");
    expect((await list("list_members", company, {})).rows).toEqual(before);
  });

  it("get_overview of 1–7 Oct: KPIs of the week and the week before, the daily series, sources and countries", async () => {
    const o = await overview(company, "2026-10-01", "2026-10-07");
    expect(o.granularity).toBe("day");
    expect(o.kpis).toEqual({
      // alice (3 of her clicks, ann + amy + ari, 2 conversions, 100 + 50 + 49.99, 2000 + 1000 + 1000 − 500),
      // carol (1 click, cat, 30.00, 600 − 600 cancelled), dave (dan, 10.01 + 10.00, 200 + 200)
      current: {
        clicks: 4, signups: 5, conversions: 4, revenue_cents: 25000, commissions_cents: 3900, paid_cents: 0, active_referrers: 3,
      },
      // bob (2 clicks, ben, 80.00, 1600 − 800 clawed back, paid 1600)
      previous: {
        clicks: 2, signups: 1, conversions: 1, revenue_cents: 8000, commissions_cents: 800, paid_cents: 1600, active_referrers: 1,
      },
    });
    expect(o.owed_cents).toBe(3500);
    expect(o.series).toEqual(
      series("2026-10-01", 7, {
        "2026-10-01": { clicks: 3, signups: 3, conversions: 2, revenue_cents: 19999, commissions_cents: 3500 },
        "2026-10-03": { clicks: 1, signups: 1, conversions: 1, revenue_cents: 3000, commissions_cents: 0 },
        "2026-10-07": { clicks: 0, signups: 1, conversions: 1, revenue_cents: 2001, commissions_cents: 400 },
      }),
    );
    expect(o.sources).toEqual([
      { value: "twitter.com", clicks: 2 },
      { value: "(direct)", clicks: 1 },
      { value: "reddit.com", clicks: 1 },
    ]);
    expect(o.countries).toEqual([
      { value: "US", clicks: 3 },
      { value: "??", clicks: 1 },
    ]);
    // the week before, on its own
    const prev = await overview(company, "2026-09-24", "2026-09-30");
    expect(prev.kpis.current).toEqual(o.kpis.previous);
    expect(prev.sources).toEqual([
      { value: "(direct)", clicks: 1 },
      { value: "youtube.com", clicks: 1 },
    ]);
    expect(prev.countries).toEqual([
      { value: "??", clicks: 1 },
      { value: "DE", clicks: 1 },
    ]);
    // tops are all time, whatever the range
    expect(prev.top_by_revenue.map((t: Json) => t.username)).toEqual(["alice", "bob", "carol", "dave", "erin"]);
  });

  it("get_overview over more than 90 days is weekly (Monday buckets); exactly 90 days is daily", async () => {
    const o = await overview(company, "2026-07-01", "2026-10-31");
    expect(o.granularity).toBe("week");
    // weeks from Mon 29 Jun to Mon 26 Oct
    expect(o.series).toEqual(
      series(
        "2026-06-29",
        18,
        {
          "2026-09-21": { clicks: 1 },
          // bob, alice, carol
          "2026-09-28": { clicks: 6, signups: 5, conversions: 4, revenue_cents: 30999, commissions_cents: 4300 },
          // dave, erin
          "2026-10-05": { clicks: 2, signups: 2, conversions: 2, revenue_cents: 4001, commissions_cents: 800 },
        },
        7,
      ),
    );
    expect(o.kpis.current).toEqual({
      clicks: 9, signups: 7, conversions: 6, revenue_cents: 35000, commissions_cents: 5100, paid_cents: 1600, active_referrers: 5,
    });
    expect(o.kpis.previous).toEqual(ZERO_KPIS);

    const ninety = await overview(company, "2026-07-03", "2026-09-30");
    expect(ninety.granularity).toBe("day");
    expect(ninety.series).toHaveLength(90);
    expect(ninety.series.filter((d: Json) => d.clicks > 0).map((d: Json) => [d.bucket, d.clicks])).toEqual([
      ["2026-09-23", 1],
      ["2026-09-28", 2],
    ]);
    const ninetyOne = await overview(company, "2026-07-02", "2026-09-30");
    expect(ninetyOne.granularity).toBe("week");
  });

  it("get_overview refuses a range that ends before it starts or spans more than 1100 days", async () => {
    await expectDomainError(overview(company, "2026-10-07", "2026-10-01"), 400, "The range must end after it starts");
    expect((await overview(company, "2023-10-09", "2026-10-12")).granularity).toBe("week"); // 1100 days
    await expectDomainError(overview(company, "2023-10-08", "2026-10-12"), 400, "Pick a range of at most 3 years");
  });

  /** The commission rows as list_commissions must show them, by id. */
  async function commissionRows() {
    return rows<Json>(
      `select c.id::text, c.beneficiary_user_id, c.payment_id, c.kind, c.amount_cents::int, c.status,
              extract(epoch from c.created_at)::float8 as created
       from public.commissions c where c.company_id = $1`,
      [company],
    );
  }

  it("list_commissions: every field of a row, and the filters (status, kind, level, member, from/to, sort amount)", async () => {
    const all = await commissionRows();
    expect(all).toHaveLength(9);
    const idOf = (payment: string, kind = "commission") => all.find((c) => c.payment_id === payment && c.kind === kind).id;
    const ids = async (filter: Record<string, unknown>) => {
      const page = await list("list_commissions", company, filter);
      expect(page.next).toBeNull();
      return page.rows.map((r: Json) => r.id);
    };
    const set = async (filter: Record<string, unknown>) => (await ids(filter)).sort();
    const sorted = (...xs: string[]) => xs.sort();

    const page = await list("list_commissions", company, { kind: "clawback" });
    expect(page).toEqual({
      rows: [
        {
          id: idOf(pays.b1, "clawback"),
          beneficiary: "bob",
          beneficiary_user_id: bob,
          payment_id: pays.b1,
          level: 1,
          kind: "clawback",
          base_amount_cents: 0,
          rate_bp: 2000,
          amount_cents: -800,
          reversed_cents: 0,
          currency: "USD",
          status: "available",
          reason: `dispute ${disputeId}`,
          campaign_bonus_bp: 0,
          campaign_id: null,
          tier_bonus_bp: 0,
          streak_multiplier: 1,
          available_at: expect.any(String),
          created_at: expect.stringMatching(/^2026-09-28T10:00:00/),
          paid_at: null,
        },
      ],
      next: null,
    });
    expect((await list("list_commissions", company, { status: "pending", member: "ALICE" })).rows).toEqual(
      [idOf(pays.a1), idOf(pays.a2)]
        .sort()
        .reverse()
        .map((id) => expect.objectContaining({ id, beneficiary: "alice", status: "pending" })),
    );

    expect(await set({ status: "pending" })).toEqual(sorted(idOf(pays.a1), idOf(pays.a2), idOf(pays.d1), idOf(pays.d1r), idOf(pays.e2)));
    expect(await set({ status: "available" })).toEqual(sorted(idOf(pays.a1r), idOf(pays.b1, "clawback")));
    expect(await set({ status: "paid" })).toEqual([idOf(pays.b1)]);
    expect(await set({ status: "cancelled" })).toEqual([idOf(pays.c1)]);
    expect(await set({ status: "reversed" })).toEqual([]);
    expect(await set({ level: 1 })).toHaveLength(9);
    expect(await set({ level: 2 })).toEqual([]);
    expect(await set({ kind: "commission" })).toHaveLength(8);
    expect(await set({ member: "alice" })).toEqual(sorted(idOf(pays.a1), idOf(pays.a1r), idOf(pays.a2)));
    expect(await set({ member: bob })).toEqual(sorted(idOf(pays.b1), idOf(pays.b1, "clawback")));
    expect(await list("list_commissions", company, { member: "nobody_here" })).toEqual({ rows: [], next: null });
    // dates are local days of the program (UTC here)
    expect(await set({ from: "2026-10-01", to: "2026-10-03" })).toEqual(
      sorted(idOf(pays.a1), idOf(pays.a1r), idOf(pays.a2), idOf(pays.c1)),
    );
    expect(await set({ to: "2026-09-30" })).toEqual(sorted(idOf(pays.b1), idOf(pays.b1, "clawback")));
    expect(await set({ from: "2026-10-07", to: "2026-10-07" })).toEqual(sorted(idOf(pays.d1), idOf(pays.d1r)));
    expect(await set({ from: "2026-10-08" })).toEqual([idOf(pays.e2)]);
    expect(await set({ from: "2026-10-09" })).toEqual([]);

    const byAmount = (await list("list_commissions", company, { sort: "amount" })).rows.map((r: Json) => r.amount_cents);
    expect(byAmount).toEqual([2000, 1600, 1000, 1000, 600, 400, 200, 200, -800]);
    const byAmountAsc = (await list("list_commissions", company, { sort: "amount", dir: "asc" })).rows.map((r: Json) => r.amount_cents);
    expect(byAmountAsc).toEqual([-800, 200, 200, 400, 600, 1000, 1000, 1600, 2000]);
    await expectDomainError(list("list_commissions", company, { sort: "bogus" }), 400, 'Unknown sort "bogus"');
  });

  it("list_commissions pages of 2: every row exactly once, in order (ties on created_at and amount broken by id)", async () => {
    const all = await commissionRows();
    const cases: [Record<string, unknown>, (c: Json) => number][] = [
      [{ sort: "created", dir: "desc" }, (c) => c.created],
      [{ sort: "created", dir: "asc" }, (c) => c.created],
      [{ sort: "amount", dir: "desc" }, (c) => c.amount_cents],
      [{ sort: "amount", dir: "asc" }, (c) => c.amount_cents],
      [{ sort: "amount", dir: "desc", status: "pending" }, (c) => c.amount_cents],
      [{ dir: "desc", member: "alice" }, (c) => c.created],
    ];
    for (const [filter, value] of cases) {
      const got = await pages("list_commissions", company, filter, 2);
      const candidates = all.filter(
        (c) => (!filter.status || c.status === filter.status) && (!filter.member || c.beneficiary_user_id === alice),
      );
      const want = keysetOrder(candidates, value, (c) => c.id, filter.dir as "asc" | "desc").map((c) => c.id);
      const flat = got.flat().map((r) => r.id);
      expect(flat, JSON.stringify(filter)).toEqual(want);
      expect(new Set(flat).size).toBe(flat.length);
      expect(got.map((p) => p.length), JSON.stringify(filter)).toEqual(
        Array.from({ length: Math.ceil(want.length / 2) }, (_, i) => Math.min(2, want.length - 2 * i)),
      );
    }
  });

  it("list_referrals: fields, filters (status, member), sort converted, pages of 2", async () => {
    const all = await rows<Json>(
      `select id::text, referee_user_id, status, extract(epoch from created_at)::float8 as created,
              extract(epoch from converted_at)::float8 as converted from public.referrals where company_id = $1`,
      [company],
    );
    expect(all).toHaveLength(7);
    const amyRow = (await list("list_referrals", company, { member: "alice" })).rows.find((r: Json) => r.referee === "amy");
    expect(amyRow).toEqual({
      id: all.find((r) => r.referee_user_id === amy).id,
      referrer: "alice",
      referrer_user_id: alice,
      referee: "amy",
      referee_user_id: amy,
      status: "converted",
      active: true,
      source: "link",
      created_at: expect.stringMatching(/^2026-10-01T10:00:00/),
      converted_at: expect.stringMatching(/^2026-10-01T10:00:00/),
      signed_up_at: expect.stringMatching(/^2026-10-01T10:00:00/),
    });
    const referees = async (filter: Record<string, unknown>) =>
      (await list("list_referrals", company, filter)).rows.map((r: Json) => r.referee).sort();
    expect(await referees({ status: "pending" })).toEqual(["ari"]);
    expect(await referees({ status: "converted" })).toEqual(["amy", "ann", "ben", "cat", "dan", "eli"]);
    expect(await referees({ status: "cancelled" })).toEqual([]);
    expect(await referees({ member: "Alice" })).toEqual(["amy", "ann", "ari"]);
    expect(await referees({ member: carol })).toEqual(["cat"]);
    expect((await list("list_referrals", company, { member: carol })).rows[0]).toMatchObject({ status: "converted", active: false });
    expect((await list("list_referrals", company, { member: dave })).rows[0]).toMatchObject({ status: "converted", active: true });
    expect(await referees({ sort: "converted" })).toEqual(["amy", "ann", "ben", "cat", "dan", "eli"]);
    expect(await list("list_referrals", company, { member: "nobody_here" })).toEqual({ rows: [], next: null });

    for (const [filter, value] of [
      [{ sort: "created", dir: "desc" }, (r: Json) => r.created],
      [{ sort: "created", dir: "asc" }, (r: Json) => r.created],
      [{ sort: "converted", dir: "desc" }, (r: Json) => r.converted],
      [{ sort: "converted", dir: "asc" }, (r: Json) => r.converted],
    ] as const) {
      const got = await pages("list_referrals", company, filter, 2);
      const candidates = all.filter((r) => filter.sort === "created" || r.converted !== null);
      const want = keysetOrder(candidates, value, (r) => r.id, filter.dir).map((r) => r.id);
      const flat = got.flat().map((r) => r.id);
      expect(flat, JSON.stringify(filter)).toEqual(want);
      expect(new Set(flat).size).toBe(want.length);
    }
  });

  it("list_payouts: fields, filters (status, member), sort amount, pages of 1", async () => {
    const full = await list("list_payouts", company, {});
    expect(full).toEqual({
      rows: [
        {
          id: alicePayout, user_id: alice, member: "alice", amount_cents: 1000, currency: "USD", status: "requested", error: null,
          reason: null, whop_transfer_id: null, attempts: 0, requested_at: expect.any(String), completed_at: null,
        },
        {
          id: bobPayout, user_id: bob, member: "bob", amount_cents: 1600, currency: "USD", status: "completed", error: null,
          reason: null, whop_transfer_id: `xfer_${s}`, attempts: 1, requested_at: expect.any(String), completed_at: expect.any(String),
        },
      ],
      next: null,
    });
    const payoutIds = async (filter: Record<string, unknown>) => (await list("list_payouts", company, filter)).rows.map((r: Json) => r.id);
    expect(await payoutIds({ status: "completed" })).toEqual([bobPayout]);
    expect(await payoutIds({ status: "requested" })).toEqual([alicePayout]);
    expect(await payoutIds({ status: "failed" })).toEqual([]);
    expect(await payoutIds({ member: "BOB" })).toEqual([bobPayout]);
    expect(await payoutIds({ member: alice })).toEqual([alicePayout]);
    expect(await payoutIds({ sort: "amount", dir: "asc" })).toEqual([alicePayout, bobPayout]);
    expect(await payoutIds({ sort: "amount", dir: "desc" })).toEqual([bobPayout, alicePayout]);
    expect(await payoutIds({ sort: "requested", dir: "asc" })).toEqual([bobPayout, alicePayout]);
    for (const filter of [{ sort: "requested" }, { sort: "amount", dir: "asc" }]) {
      const got = await pages("list_payouts", company, filter, 1);
      expect(got.map((p) => p.map((r) => r.id))).toEqual((await payoutIds(filter)).map((id: string) => [id]));
    }
    await expectDomainError(list("list_payouts", company, { sort: "bogus" }), 400, 'Unknown sort "bogus"');
  });

  it("Asia/Kolkata: dave's 22:00 UTC on 7 Oct becomes 8 Oct; KPIs, series and the date filters follow; check_analytics ok", async () => {
    expect(await call("set_program_timezone", { p_company_id: company, p_timezone: "Asia/Kolkata" })).toEqual({
      timezone: "Asia/Kolkata",
    });
    await expectConsistent(company, "after the time zone change");
    const o = await overview(company, "2026-10-01", "2026-10-07");
    expect(o.timezone).toBe("Asia/Kolkata");
    expect(o.kpis.current).toEqual({
      clicks: 4, signups: 4, conversions: 3, revenue_cents: 22999, commissions_cents: 3500, paid_cents: 0, active_referrers: 2,
    });
    expect(o.kpis.previous).toEqual({
      clicks: 2, signups: 1, conversions: 1, revenue_cents: 8000, commissions_cents: 800, paid_cents: 1600, active_referrers: 1,
    });
    expect(o.series).toEqual(
      series("2026-10-01", 7, {
        "2026-10-01": { clicks: 3, signups: 3, conversions: 2, revenue_cents: 19999, commissions_cents: 3500 },
        "2026-10-03": { clicks: 1, signups: 1, conversions: 1, revenue_cents: 3000, commissions_cents: 0 },
      }),
    );
    expect((await overview(company, "2026-10-08", "2026-10-08")).kpis.current).toEqual({
      // dave (now on the 8th) and erin
      clicks: 2, signups: 2, conversions: 2, revenue_cents: 4001, commissions_cents: 800, paid_cents: 0, active_referrers: 2,
    });
    const count = async (filter: Record<string, unknown>) => (await list("list_commissions", company, filter)).rows.length;
    expect(await count({ from: "2026-10-07", to: "2026-10-07" })).toBe(0);
    expect(await count({ from: "2026-10-08", to: "2026-10-08" })).toBe(3);
    expect(await count({ from: "2026-10-01", to: "2026-10-07" })).toBe(4);
    // nothing else moved
    expect((await list("list_members", company, {})).rows).toEqual(
      keysetOrder(expectedMemberRows(), (m) => m.conversions, (m) => m.user_id, "desc"),
    );
  });
});
