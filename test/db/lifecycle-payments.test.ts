/**
 * The money lifecycle, payments: multi-level and recurring commissions, flat and per-product
 * rates, hold and release, and the creator's decisions on commissions (decide_commission).
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; every test works on its own company and users and asserts amounts to
 * the cent and statuses exactly. Time passing is simulated by moving timestamps back in SQL.
 * Set-up lives in test/world.ts and test/db/lifecycle.world.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { call, codeOf, expectDomainError, ids, pay, sqlRows as rows } from "../helpers";
import { availableBalance, claim, earnings, refund, requestPayout, settings, user } from "../world";
import { db, sql, payment, commissions, brief, ledger, earn, backdateConversion, chain } from "./lifecycle.world";

afterAll(async () => {
  await db.close();
  await sql.end();
});

// ── 1. levels ───────────────────────────────────────────────────────────────

describe("multi-level commissions", () => {
  it("mlm with max_level 3: C's 100.00 pays B (L1) 2000, A (L2) 500, Z (L3) 200 and nobody above", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 3 });
    const { y, z: zz, a, b, c } = await chain(t.company);
    const data = payment({ user: c, total: 100, code: await codeOf(t.company, b) });
    expect(await pay(t.company, data)).toEqual({ duplicate: false, outcome: "commission_created" });

    const cs = await commissions(t.company);
    expect(cs.map((x) => [x.who, x.level, x.kind, x.base, x.rate_bp, x.amount, x.status])).toEqual([
      [b, 1, "commission", 10000, 2000, 2000, "pending"],
      [a, 2, "commission", 10000, 500, 500, "pending"],
      [zz, 3, "commission", 10000, 200, 200, "pending"],
    ]);
    expect(cs.some((x) => x.who === y)).toBe(false);
    expect(await ledger(t.company)).toEqual([
      { kind: "payment", user_id: c, amount: 10000, reference_type: "payment", reference_id: data.id, memo: null },
      { kind: "commission", user_id: b, amount: 2000, reference_type: "commission", reference_id: cs[0].id, memo: null },
      { kind: "commission", user_id: a, amount: 500, reference_type: "commission", reference_id: cs[1].id, memo: null },
      { kind: "commission", user_id: zz, amount: 200, reference_type: "commission", reference_id: cs[2].id, memo: null },
    ]);
  });

  it("mlm with max_level 2 pays two levels only", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 2 });
    const { a, b, c } = await chain(t.company);
    await pay(t.company, payment({ user: c, total: 100, code: await codeOf(t.company, b) }));
    expect(await brief(t.company)).toEqual([
      [b, 1, 2000, 0, "pending"],
      [a, 2, 500, 0, "pending"],
    ]);
  });

  it("with mlm off only level 1 earns, whatever max_level says", async () => {
    const t = ids();
    const p = await settings(t.company, { max_level: 3 });
    expect(p).toMatchObject({ mlm_enabled: false, max_level: 3 });
    const { b, c } = await chain(t.company);
    expect(await pay(t.company, payment({ user: c, total: 100, code: await codeOf(t.company, b) }))).toEqual({
      duplicate: false,
      outcome: "commission_created",
    });
    expect(await brief(t.company)).toEqual([[b, 1, 2000, 0, "pending"]]);
  });

  it("levels ≥ 2 stop after level2_months: a renewal 7 months after conversion pays level 1 only", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 3 });
    const { z: zz, a, b, c } = await chain(t.company);
    const first = payment({ user: c, total: 100, code: await codeOf(t.company, b) });
    await pay(t.company, first);
    const renewal1 = payment({ user: c, total: 50 });
    expect(await pay(t.company, renewal1)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect(await brief(t.company, renewal1.id)).toEqual([
      [b, 1, 1000, 0, "pending"],
      [a, 2, 250, 0, "pending"],
      [zz, 3, 100, 0, "pending"],
    ]);

    await backdateConversion(t.company, c, "7 months");
    const renewal2 = payment({ user: c, total: 100 });
    expect(await pay(t.company, renewal2)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect(await brief(t.company, renewal2.id)).toEqual([[b, 1, 2000, 0, "pending"]]);
    expect((await commissions(t.company)).length).toBe(7);
  });

  it("levels ≥ 2 still earn 6 calendar months less 2 days after conversion (level2_months 6)", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 3 });
    const { z: zz, a, b, c } = await chain(t.company);
    await pay(t.company, payment({ user: c, total: 100, code: await codeOf(t.company, b) }));
    await sql.query(
      `update public.referrals set converted_at = now() - interval '6 months' + interval '2 days'
       where company_id = $1 and referee_user_id = $2`,
      [t.company, c],
    );
    const renewal = payment({ user: c, total: 100 });
    expect(await pay(t.company, renewal)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect(await brief(t.company, renewal.id)).toEqual([
      [b, 1, 2000, 0, "pending"],
      [a, 2, 500, 0, "pending"],
      [zz, 3, 200, 0, "pending"],
    ]);
  });

  it("the chain never loops: the top of the chain can't join through C, by claim or by link", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 5 });
    const { y, c, b } = await chain(t.company);
    await pay(t.company, payment({ user: c, total: 100, code: await codeOf(t.company, b) }));
    await expectDomainError(claim(t.company, y, c), 400, "That member joined through you, so they can't be your referrer");
    // nor can the middle of the chain
    const codeC = await codeOf(t.company, c);
    await expectDomainError(
      call("claim_referral", { p_company_id: t.company, p_user_id: b, p_code: codeC, p_username: null }),
      409,
      "You already have a referrer in this community",
    );
    const loopPay = payment({ user: y, total: 100, code: codeC });
    expect(await pay(t.company, loopPay)).toEqual({ duplicate: false, outcome: "no_attribution" });
    expect(await brief(t.company, loopPay.id)).toEqual([]);
    const r = await rows(`select count(*)::int as n from public.referrals where company_id = $1 and referee_user_id = $2`, [
      t.company,
      y,
    ]);
    expect(r).toEqual([{ n: 0 }]);
    // the first payment paid the 4 levels above C and stopped at the top (5 allowed)
    expect((await commissions(t.company)).map((x) => x.level)).toEqual([1, 2, 3, 4]);
  });
});

// ── 2. recurring ────────────────────────────────────────────────────────────

describe("recurring commissions", () => {
  it("a renewal within recurring_months earns; 13 months after conversion it is outside the window", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer);
    const first = payment({ user: t.referee, total: 100, code });
    await pay(t.company, first);
    const renewal = payment({ user: t.referee, total: 50 });
    expect(await pay(t.company, renewal)).toEqual({ duplicate: false, outcome: "commission_created" });

    await backdateConversion(t.company, t.referee, "13 months");
    const late = payment({ user: t.referee, total: 100 });
    expect(await pay(t.company, late)).toEqual({ duplicate: false, outcome: "outside_recurring_window" });

    expect((await commissions(t.company)).map((c) => [c.payment_id, c.amount, c.status])).toEqual([
      [first.id, 2000, "pending"],
      [renewal.id, 1000, "pending"],
    ]);
    const p = await rows(`select count(*)::int as n from public.payments where company_id = $1`, [t.company]);
    expect(p).toEqual([{ n: 3 }]);
    expect((await ledger(t.company)).map((l) => [l.kind, l.amount])).toEqual([
      ["payment", 10000],
      ["commission", 2000],
      ["payment", 5000],
      ["commission", 1000],
      ["payment", 10000],
    ]);
  });

  it("recurring_months 0 pays the first payment only", async () => {
    const t = ids();
    await settings(t.company, { recurring_months: 0 });
    const code = await codeOf(t.company, t.referrer);
    expect(await pay(t.company, payment({ user: t.referee, total: 100, code }))).toEqual({
      duplicate: false,
      outcome: "commission_created",
    });
    expect(await pay(t.company, payment({ user: t.referee, total: 100 }))).toEqual({
      duplicate: false,
      outcome: "outside_recurring_window",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 0, "pending"]]);
  });

  it("a renewal 12 calendar months less 2 days after conversion still earns (recurring_months 12)", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer);
    await pay(t.company, payment({ user: t.referee, total: 100, code }));
    await sql.query(
      `update public.referrals set converted_at = now() - interval '12 months' + interval '2 days'
       where company_id = $1 and referee_user_id = $2`,
      [t.company, t.referee],
    );
    const renewal = payment({ user: t.referee, total: 100 });
    expect(await pay(t.company, renewal)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect(await brief(t.company, renewal.id)).toEqual([[t.referrer, 1, 2000, 0, "pending"]]);
  });
});

// ── 3. flat and per-product ─────────────────────────────────────────────────

describe("commission types", () => {
  it("flat 1500: level 1 gets 1500 on the first payment and nothing on a renewal", async () => {
    const t = ids();
    const p = await settings(t.company, { commission_type: "flat", flat_amount_cents: 1500 });
    expect(p).toMatchObject({ commission_type: "flat", flat_amount_cents: 1500 });
    const code = await codeOf(t.company, t.referrer);
    const first = payment({ user: t.referee, total: 100, code });
    expect(await pay(t.company, first)).toEqual({ duplicate: false, outcome: "commission_created" });
    const renewal = payment({ user: t.referee, total: 100 });
    expect(await pay(t.company, renewal)).toEqual({ duplicate: false, outcome: "no_commission" });
    const cs = await commissions(t.company);
    expect(cs.map((c) => [c.payment_id, c.who, c.level, c.base, c.rate_bp, c.amount, c.status])).toEqual([
      [first.id, t.referrer, 1, 10000, 0, 1500, "pending"],
    ]);
    expect((await ledger(t.company)).map((l) => [l.kind, l.amount])).toEqual([
      ["payment", 10000],
      ["commission", 1500],
      ["payment", 10000],
    ]);
  });

  it("product_rates_bp overrides the level-1 rate for that product only", async () => {
    const t = ids();
    await settings(t.company, { product_rates_bp: { prod_x: 3000 } });
    const code = await codeOf(t.company, t.referrer);
    const px = payment({ user: t.referee, total: 100, code, product: "prod_x" });
    const py = payment({ user: t.referee, total: 100, product: "prod_y" });
    expect(await pay(t.company, px)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect(await pay(t.company, py)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect((await commissions(t.company)).map((c) => [c.payment_id, c.rate_bp, c.amount])).toEqual([
      [px.id, 3000, 3000],
      [py.id, 2000, 2000],
    ]);
    const p = await rows(`select payment_id, product_id from public.payments where company_id = $1 order by created_at`, [
      t.company,
    ]);
    expect(p).toEqual([
      { payment_id: px.id, product_id: "prod_x" },
      { payment_id: py.id, product_id: "prod_y" },
    ]);
  });
});

// ── 4. hold and release ─────────────────────────────────────────────────────

describe("hold and release", () => {
  it("commissions start pending for hold_days; release_commissions moves only those due, once", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer);
    const p1 = payment({ user: t.referee, total: 50, code });
    const p2 = payment({ user: t.other, total: 100, code });
    await pay(t.company, p1);
    await pay(t.company, p2);
    const holds = await rows<{ payment_id: string; status: string; hold: string }>(
      `select payment_id, status, (available_at - created_at)::text as hold from public.commissions
       where company_id = $1 order by amount_cents`,
      [t.company],
    );
    expect(holds).toEqual([
      { payment_id: p1.id, status: "pending", hold: "14 days" },
      { payment_id: p2.id, status: "pending", hold: "14 days" },
    ]);

    await call("release_commissions", {}); // whatever other tests left due
    expect((await commissions(t.company)).map((c) => c.status)).toEqual(["pending", "pending"]);

    await sql.query(
      `update public.commissions set available_at = now() - interval '1 day' where company_id = $1 and payment_id = $2`,
      [t.company, p1.id],
    );
    expect(await call("release_commissions", {})).toBe(1);
    expect((await commissions(t.company)).map((c) => [c.payment_id, c.status])).toEqual([
      [p1.id, "available"],
      [p2.id, "pending"],
    ]);
    expect(await call("release_commissions", {})).toBe(0);
    expect((await commissions(t.company)).map((c) => [c.payment_id, c.status])).toEqual([
      [p1.id, "available"],
      [p2.id, "pending"],
    ]);
    expect(await availableBalance(t.company, t.referrer)).toBe(1000);
  });
});

// ── 5. creator decisions ────────────────────────────────────────────────────

describe("decide_commission", () => {
  const decide = (company: string, id: string, decision: string, reason: string | null) =>
    call("decide_commission", { p_company_id: company, p_commission_id: id, p_decision: decision, p_reason: reason });

  it("approving a pending commission makes it available now, with an approval row in the ledger", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) }));
    const [c] = await commissions(t.company);
    const res = await decide(t.company, c.id, "approve", "verified customer");
    expect(res).toMatchObject({ id: c.id, status: "available", reason: "verified customer", amount_cents: 2000 });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 0, "available"]]);
    expect((await ledger(t.company)).slice(2)).toEqual([
      { kind: "approval", user_id: t.referrer, amount: 0, reference_type: "commission", reference_id: c.id, memo: "verified customer" },
    ]);
    expect(await availableBalance(t.company, t.referrer)).toBe(2000);
  });

  it("approving an on_hold commission makes it pending, or available when the hold has passed", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer);
    const p1 = payment({ user: t.referee, total: 100, code });
    const p2 = payment({ user: t.other, total: 50, code });
    await pay(t.company, p1);
    await pay(t.company, p2);
    await sql.query(`update public.commissions set status = 'on_hold' where company_id = $1`, [t.company]);
    await sql.query(
      `update public.commissions set available_at = now() - interval '1 hour' where company_id = $1 and payment_id = $2`,
      [t.company, p2.id],
    );
    const [c1, c2] = await commissions(t.company);
    expect((await decide(t.company, c1.id, "approve", "reviewed")).status).toBe("pending");
    expect((await decide(t.company, c2.id, "approve", "reviewed")).status).toBe("available");
    expect((await commissions(t.company)).map((c) => [c.payment_id, c.status, c.reason])).toEqual([
      [p1.id, "pending", "reviewed"],
      [p2.id, "available", "reviewed"],
    ]);
    // approving again: an available commission can't be approved
    await expectDomainError(decide(t.company, c2.id, "approve", "again"), 409, 'A available commission can\'t take the decision "approve"');
  });

  it("cancelling writes a cancellation of the net amount with the reason; earnings drop it", async () => {
    const t = ids();
    const code = await codeOf(t.company, t.referrer);
    const p1 = payment({ user: t.referee, total: 100, code });
    const p2 = payment({ user: t.other, total: 100, code });
    await pay(t.company, p1);
    await pay(t.company, p2);
    // 30% of p2 refunded first: its commission has 600 reversed, 1400 left
    expect(await refund(t.company, p2.id, 30)).toEqual({
      duplicate: false,
      outcome: "refund_reversed",
    });
    const [c1, c2] = await commissions(t.company);
    expect(await decide(t.company, c1.id, "cancel", "self-referral ring")).toMatchObject({
      status: "cancelled",
      reason: "self-referral ring",
    });
    expect(await decide(t.company, c2.id, "cancel", "chargeback risk")).toMatchObject({ status: "cancelled" });
    expect(await brief(t.company)).toEqual([
      [t.referrer, 1, 2000, 0, "cancelled"],
      [t.referrer, 1, 2000, 600, "cancelled"],
    ]);
    const cancellations = (await ledger(t.company)).filter((l) => l.kind === "cancellation");
    expect(cancellations).toEqual([
      { kind: "cancellation", user_id: t.referrer, amount: -2000, reference_type: "commission", reference_id: c1.id, memo: "self-referral ring" },
      { kind: "cancellation", user_id: t.referrer, amount: -1400, reference_type: "commission", reference_id: c2.id, memo: "chargeback risk" },
    ]);
    expect(await earnings(t.company, t.referrer)).toEqual([
      { currency: "USD", total_earnings: 0, pending_earnings: 0, paid_earnings: 0 },
    ]);
    // a cancelled commission can't be approved back
    await expectDomainError(decide(t.company, c1.id, "approve", "oops"), 409, 'A cancelled commission can\'t take the decision "approve"');
  });

  it("a decision without a reason is refused (400) and changes nothing", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) }));
    const [c] = await commissions(t.company);
    for (const reason of [null, "", "   "]) {
      await expectDomainError(decide(t.company, c.id, "cancel", reason), 400, "Give a reason");
      await expectDomainError(decide(t.company, c.id, "approve", reason), 400, "Give a reason");
    }
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 0, "pending"]]);
    expect((await ledger(t.company)).map((l) => l.kind)).toEqual(["payment", "commission"]);
  });

  it("a paid commission, or one in a payout, can't be cancelled (409)", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [100, 100], { ledger_account_id: "ldgr_test" });
    const [c1, c2] = await commissions(t.company);
    await sql.query(`update public.commissions set payout_id = null, status = 'paid' where id = $1`, [c1.id]);
    await expectDomainError(decide(t.company, c1.id, "cancel", "too late"), 409, 'A paid commission can\'t take the decision "cancel"');
    const po = await requestPayout(t.company, t.referrer);
    expect(po.amount_cents).toBe(2000);
    await expectDomainError(decide(t.company, c2.id, "cancel", "in flight"), 409, 'A available commission can\'t take the decision "cancel"');
    expect((await commissions(t.company)).map((c) => c.status)).toEqual(["paid", "available"]);
    expect((await ledger(t.company)).filter((l) => l.kind === "cancellation")).toEqual([]);
    await expectDomainError(decide(t.company, "00000000-0000-4000-8000-000000000000", "cancel", "x"), 404, "No such commission");
  });
});
