/**
 * The money lifecycle, refunds and disputes: pro-rata reversals, pending and updated refunds,
 * unknown payments, disputes, and clawbacks after a payout.
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; every test works on its own company and users and asserts amounts to
 * the cent and statuses exactly. Time passing is simulated by moving timestamps back in SQL.
 * Set-up lives in test/world.ts and test/db/lifecycle.world.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { codeOf, expectDomainError, ids, pay, sqlRows as rows, uid } from "../helpers";
import {
  availableBalance,
  completePayout,
  dispute,
  earnings,
  refund,
  requestPayout,
  settings,
  startPayout,
  user,
} from "../world";
import { db, sql, payment, commissions, brief, ledger, earn, chain } from "./lifecycle.world";

afterAll(async () => {
  await db.close();
  await sql.end();
});

// ── 6. refunds and disputes ─────────────────────────────────────────────────

describe("refunds and disputes", () => {
  it("a pending refund reverses nothing; once succeeded it reverses once; a redelivery changes nothing", async () => {
    const t = ids();
    const p = payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) });
    await pay(t.company, p);
    const re = uid("re_");
    expect(await refund(t.company, p.id, 50, { id: re, status: "pending" })).toEqual({
      duplicate: false,
      outcome: "refund_pending",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 0, "pending"]]);
    expect(
      await rows(`select refund_id, kind, amount_cents::int, status, applied_at from public.refunds where company_id = $1`, [
        t.company,
      ]),
    ).toEqual([{ refund_id: re, kind: "refund", amount_cents: 5000, status: "pending", applied_at: null }]);

    expect(await refund(t.company, p.id, 50, { id: re, status: "succeeded", type: "refund.updated" })).toEqual({
      duplicate: false,
      outcome: "refund_reversed",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 1000, "pending"]]);

    // Whop sends the update again under a new event id
    expect(await refund(t.company, p.id, 50, { id: re, status: "succeeded", type: "refund.updated" })).toEqual({
      duplicate: false,
      outcome: "refund_already_applied",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 1000, "pending"]]);
    const [c] = await commissions(t.company);
    expect((await ledger(t.company)).filter((l) => l.kind === "reversal")).toEqual([
      { kind: "reversal", user_id: t.referrer, amount: -1000, reference_type: "commission", reference_id: c.id, memo: `refund ${re}` },
    ]);
    expect(await rows(`select refunded_cents::int from public.payments where payment_id = $1`, [p.id])).toEqual([
      { refunded_cents: 5000 },
    ]);
  });

  it("30% refunded → 600 of 2000 reversed, still pending, earnings 1400; refunded up to 100% → reversed", async () => {
    const t = ids();
    const p = payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) });
    await pay(t.company, p);
    expect(await refund(t.company, p.id, 30)).toEqual({
      duplicate: false,
      outcome: "refund_reversed",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 600, "pending"]]);
    expect(await earnings(t.company, t.referrer)).toEqual([
      { currency: "USD", total_earnings: 1400, pending_earnings: 1400, paid_earnings: 0 },
    ]);

    expect(await refund(t.company, p.id, 70)).toEqual({
      duplicate: false,
      outcome: "refund_reversed",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 2000, "reversed"]]);
    expect(await earnings(t.company, t.referrer)).toEqual([
      { currency: "USD", total_earnings: 0, pending_earnings: 0, paid_earnings: 0 },
    ]);
    expect((await ledger(t.company)).filter((l) => l.kind === "reversal").map((l) => l.amount)).toEqual([-600, -1400]);
    // a refund beyond the payment's total moves nothing more
    expect(await refund(t.company, p.id, 5)).toEqual({
      duplicate: false,
      outcome: "refund_recorded",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 2000, "reversed"]]);
    expect(await rows(`select refunded_cents::int from public.payments where payment_id = $1`, [p.id])).toEqual([
      { refunded_cents: 10000 },
    ]);
  });

  it("pro rata rounds half down per commission: 33.33 of 100.00 on 2000 → 667; 1.5¢ → 1¢", async () => {
    const t = ids();
    const p = payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) });
    await pay(t.company, p);
    await refund(t.company, p.id, 33.33);
    // 2000 × 3333 / 10000 = 666.6 → 667
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 667, "pending"]]);

    const u = ids();
    await settings(u.company, { commission_rate_bp: 2500 });
    const q = payment({ user: u.referee, total: 100, code: await codeOf(u.company, u.referrer) });
    await pay(u.company, q);
    // 2500 × 6 / 10000 = 1.5 → 1 (half down)
    await refund(u.company, q.id, 0.06);
    expect(await brief(u.company)).toEqual([[u.referrer, 1, 2500, 1, "pending"]]);
    // 2500 × 8 / 10000 = 2 in all: 1 more
    await refund(u.company, q.id, 0.02);
    expect(await brief(u.company)).toEqual([[u.referrer, 1, 2500, 2, "pending"]]);
    expect((await ledger(u.company)).filter((l) => l.kind === "reversal").map((l) => l.amount)).toEqual([-1, -1]);
  });

  it("a refund for an unknown payment writes nothing but its event", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) }));
    const before = await ledger(t.company);
    const evt = uid("evt_");
    expect(await refund(t.company, "pay_nosuch", 100, { eventId: evt })).toEqual({
      duplicate: false,
      outcome: "unknown_payment",
    });
    expect(await rows(`select * from public.refunds where company_id = $1`, [t.company])).toEqual([]);
    expect(await ledger(t.company)).toEqual(before);
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 0, "pending"]]);
    expect(await rows(`select outcome from public.webhook_events where event_id = $1`, [evt])).toEqual([
      { outcome: "unknown_payment" },
    ]);
  });

  it("dispute.created reverses every level in full for the full amount", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 2 });
    const { a, b, c } = await chain(t.company);
    const p = payment({ user: c, total: 100, code: await codeOf(t.company, b) });
    await pay(t.company, p);
    const dp = uid("dp_");
    expect(await dispute(t.company, p.id, 100, { id: dp })).toEqual({
      duplicate: false,
      outcome: "dispute_reversed",
    });
    expect(await brief(t.company)).toEqual([
      [b, 1, 2000, 2000, "reversed"],
      [a, 2, 500, 500, "reversed"],
    ]);
    expect((await ledger(t.company)).filter((l) => l.kind === "reversal").map((l) => [l.user_id, l.amount, l.memo])).toEqual([
      [b, -2000, `dispute ${dp}`],
      [a, -500, `dispute ${dp}`],
    ]);
    expect(await rows(`select kind, status, amount_cents::int from public.refunds where refund_id = $1`, [dp])).toEqual([
      { kind: "dispute", status: "succeeded", amount_cents: 10000 },
    ]);
  });

  it("a partial dispute reverses pro rata for its amount", async () => {
    const t = ids();
    const p = payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) });
    await pay(t.company, p);
    expect(await dispute(t.company, p.id, 25)).toEqual({
      duplicate: false,
      outcome: "dispute_reversed",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 500, "pending"]]);
  });
});

// ── 7. clawback ─────────────────────────────────────────────────────────────

describe("clawback after a payout", () => {
  it("a refund after payment claws back, blocks payouts while negative, and nets against the next payout", async () => {
    const t = ids();
    const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const [c1] = await commissions(t.company);
    expect(c1).toMatchObject({ status: "available", amount: 2000 });

    const po = await requestPayout(t.company, t.referrer);
    expect(po).toMatchObject({ user_id: t.referrer, amount_cents: 2000, currency: "USD", status: "requested" });
    await startPayout(t.company, po.id);
    const xfer = uid("xfer_");
    expect(await completePayout(t.company, po.id, xfer)).toMatchObject({ status: "completed", whop_transfer_id: xfer });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 0, "paid"]]);

    const re = uid("re_");
    expect(await refund(t.company, p1, 100, { id: re })).toEqual({
      duplicate: false,
      outcome: "refund_reversed",
    });
    const cs = await commissions(t.company);
    expect(cs.map((c) => [c.kind, c.who, c.level, c.amount, c.reversed, c.status])).toEqual([
      ["commission", t.referrer, 1, 2000, 0, "paid"],
      ["clawback", t.referrer, 1, -2000, 0, "available"],
    ]);
    expect(cs[1]).toMatchObject({ refund_id: re, reverses: c1.id, payout_id: null, payment_id: p1 });
    expect((await ledger(t.company)).filter((l) => l.kind === "clawback")).toEqual([
      { kind: "clawback", user_id: t.referrer, amount: -2000, reference_type: "commission", reference_id: c1.id, memo: `refund ${re}` },
    ]);
    expect(await availableBalance(t.company, t.referrer)).toBe(-2000);
    await expectDomainError(
      requestPayout(t.company, t.referrer),
      400,
      "Your balance is negative (-2000) after a refund; new commissions will earn it back",
    );

    // a renewal of 30.00 earns 600: still −1400
    const renewal = payment({ user: t.referee, total: 30 });
    expect(await pay(t.company, renewal)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect(await availableBalance(t.company, t.referrer)).toBe(-1400);
    await expectDomainError(
      requestPayout(t.company, t.referrer),
      400,
      "Your balance is negative (-1400) after a refund; new commissions will earn it back",
    );

    // 150.00 more earns 3000: the next payout is 600 + 3000 − 2000 = 1600
    await pay(t.company, payment({ user: t.referee, total: 150 }));
    expect(await availableBalance(t.company, t.referrer)).toBe(1600);
    const po2 = await requestPayout(t.company, t.referrer);
    expect(po2.amount_cents).toBe(1600);
    const items = await rows<{ amount: number }>(
      `select c.amount_cents::int as amount from public.payout_items i join public.commissions c on c.id = i.commission_id
       where i.payout_id = $1 order by c.amount_cents`,
      [po2.id],
    );
    expect(items.map((i) => i.amount)).toEqual([-2000, 600, 3000]);
    expect((await startPayout(t.company, po2.id)).amount_cents).toBe(1600);
    await completePayout(t.company, po2.id, uid("xfer_"));
    expect((await commissions(t.company)).map((c) => [c.kind, c.amount, c.status])).toEqual([
      ["commission", 2000, "paid"],
      ["clawback", -2000, "paid"],
      ["commission", 600, "paid"],
      ["commission", 3000, "paid"],
    ]);
    expect((await ledger(t.company)).filter((l) => l.kind === "payout").map((l) => l.amount)).toEqual([-2000, -1600]);
    expect(await availableBalance(t.company, t.referrer)).toBe(0);
    // paid out 3600 = earned 5600 − clawed back 2000
    expect(await earnings(t.company, t.referrer)).toEqual([
      { currency: "USD", total_earnings: 3600, pending_earnings: 0, paid_earnings: 3600 },
    ]);
  });
});
