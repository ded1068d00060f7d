/**
 * The money lifecycle, payouts: request, start, complete, fail, retry and cancel (with
 * concurrency), and refunds racing a payout on separate connections.
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; every test works on its own company and users and asserts amounts to
 * the cent and statuses exactly. Time passing is simulated by moving timestamps back in SQL.
 * Set-up lives in test/world.ts and test/db/lifecycle.world.ts.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { DomainError } from "../../lib/db";
import { createPgBackend } from "../../lib/db/pg";
import { expectDomainError, ids, pay, rejection, sqlRows as rows, uid } from "../helpers";
import {
  availableBalance,
  cancelPayout,
  completePayout,
  earnings,
  failPayout,
  payouts,
  refund,
  requestPayout,
  startPayout,
  user,
} from "../world";
import { db, sql, payment, commissions, brief, ledger, earn, paidVsNet, interleave } from "./lifecycle.world";

afterAll(async () => {
  await db.close();
  await sql.end();
});

// ── 8. payouts ──────────────────────────────────────────────────────────────

describe("payouts", () => {
  it("below the minimum (default 1000) a request is refused (400) and writes nothing", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [25]);
    expect(await availableBalance(t.company, t.referrer)).toBe(500);
    await expectDomainError(
      requestPayout(t.company, t.referrer),
      400,
      "Your available balance (500 cents) is below the minimum payout (1000 cents)",
    );
    expect(await payouts(t.company)).toEqual([]);
    expect((await commissions(t.company)).map((c) => [c.status, c.payout_id])).toEqual([["available", null]]);
    // nothing at all: refused too
    await expectDomainError(
      requestPayout(t.company, t.other),
      400,
      "Your available balance (0 cents) is below the minimum payout (1000 cents)",
    );
  });

  it("one open payout per member: a second request is refused (409)", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [100]);
    const po = await requestPayout(t.company, t.referrer);
    expect(po).toMatchObject({ amount_cents: 2000, status: "requested" });
    await pay(t.company, payment({ user: t.referee, total: 100 }));
    await expectDomainError(requestPayout(t.company, t.referrer), 409, "You already have a payout in progress");
    expect((await payouts(t.company)).map((p) => [p.amount, p.status])).toEqual([[2000, "requested"]]);
    // the newer commission stays free for the next payout
    expect((await commissions(t.company)).map((c) => c.payout_id)).toEqual([po.id, null]);
    expect(await availableBalance(t.company, t.referrer)).toBe(2000);
  });

  it("50 concurrent requests of one member make exactly one payout; no commission lands in two", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [50, 50, 50]);
    const many = createPgBackend(inject("sqlDbUrl"), 50);
    try {
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => requestPayout(t.company, t.referrer, many)));
      const ok = results.filter((r) => r.status === "fulfilled");
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(ok).toHaveLength(1);
      expect(refused).toHaveLength(49);
      for (const r of refused) {
        expect(r.reason).toBeInstanceOf(DomainError);
        expect((r.reason as DomainError).status).toBe(409);
      }
    } finally {
      await many.close();
    }
    const ps = await payouts(t.company);
    expect(ps.map((p) => [p.user_id, p.amount, p.status])).toEqual([[t.referrer, 3000, "requested"]]);
    const items = await rows<{ commission_id: string; payout_id: string }>(
      `select i.commission_id::text, i.payout_id::text from public.payout_items i
       join public.commissions c on c.id = i.commission_id where c.company_id = $1`,
      [t.company],
    );
    expect(items).toHaveLength(3);
    expect(new Set(items.map((i) => i.commission_id)).size).toBe(3);
    expect(new Set(items.map((i) => i.payout_id))).toEqual(new Set([ps[0].id]));
    expect((await commissions(t.company)).map((c) => c.payout_id)).toEqual([ps[0].id, ps[0].id, ps[0].id]);
    expect(await availableBalance(t.company, t.referrer)).toBe(0);
  });

  it("fail_payout frees the commissions; a retry re-attaches them under the same id; complete is idempotent", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [50, 50], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    const started = await startPayout(t.company, po.id);
    expect(started).toMatchObject({
      id: po.id,
      status: "processing",
      user_id: t.referrer,
      amount_cents: 2000,
      currency: "USD",
      ledger_account_id: "ldgr_test",
    });
    expect(Number(started.amount)).toBe(20);
    expect((await payouts(t.company)).map((p) => [p.status, p.attempts])).toEqual([["processing", 1]]);

    const failed = await failPayout(t.company, po.id, "Ledger account has insufficient funds");
    expect(failed).toMatchObject({ status: "failed", error: "Ledger account has insufficient funds" });
    expect((await commissions(t.company)).map((c) => [c.status, c.payout_id])).toEqual([
      ["available", null],
      ["available", null],
    ]);
    expect(await availableBalance(t.company, t.referrer)).toBe(2000);
    // a failed payout can't fail again
    await expectDomainError(failPayout(t.company, po.id, "again"), 409, "A failed payout can't fail");

    const retried = await startPayout(t.company, po.id);
    expect(retried).toMatchObject({ id: po.id, status: "processing", amount_cents: 2000 });
    expect(await payouts(t.company)).toEqual([
      {
        id: po.id,
        user_id: t.referrer,
        amount: 2000,
        status: "processing",
        error: null,
        reason: null,
        attempts: 2,
        whop_transfer_id: null,
      },
    ]);
    expect((await commissions(t.company)).map((c) => [c.status, c.payout_id])).toEqual([
      ["available", po.id],
      ["available", po.id],
    ]);

    const xfer = uid("xfer_");
    expect(await completePayout(t.company, po.id, xfer)).toMatchObject({ status: "completed", whop_transfer_id: xfer });
    expect(await completePayout(t.company, po.id, xfer)).toMatchObject({ status: "completed", whop_transfer_id: xfer });
    await expectDomainError(completePayout(t.company, po.id, uid("xfer_")), 409, "A completed payout can't be completed");
    expect((await commissions(t.company)).map((c) => c.status)).toEqual(["paid", "paid"]);
    expect((await ledger(t.company)).filter((l) => l.kind === "payout")).toEqual([
      { kind: "payout", user_id: t.referrer, amount: -2000, reference_type: "payout", reference_id: po.id, memo: xfer },
    ]);
    expect(await earnings(t.company, t.referrer)).toEqual([
      { currency: "USD", total_earnings: 2000, pending_earnings: 0, paid_earnings: 2000 },
    ]);
    await expectDomainError(startPayout(t.company, po.id), 409, "A completed payout can't be paid");
  });

  it("cancel_payout of a requested payout frees its commissions; a processing one can't be cancelled", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    expect(await cancelPayout(t.company, po.id, "member asked")).toMatchObject({ status: "cancelled", reason: "member asked" });
    expect((await commissions(t.company)).map((c) => [c.status, c.payout_id])).toEqual([["available", null]]);
    expect(await availableBalance(t.company, t.referrer)).toBe(2000);

    const po2 = await requestPayout(t.company, t.referrer);
    expect(po2.id).not.toBe(po.id);
    expect(po2.amount_cents).toBe(2000);
    await startPayout(t.company, po2.id);
    await expectDomainError(cancelPayout(t.company, po2.id, "too late"), 409, "A processing payout can't be cancelled");
    expect((await payouts(t.company)).map((p) => p.status)).toEqual(["cancelled", "processing"]);
  });

  it("start_payout without a ledger account is refused (400) and leaves the payout requested", async () => {
    const t = ids();
    await earn(t.company, t.referrer, t.referee, [100]);
    const po = await requestPayout(t.company, t.referrer);
    await expectDomainError(
      startPayout(t.company, po.id),
      400,
      "Set the company's Whop ledger account id in settings before paying out",
    );
    expect((await payouts(t.company)).map((p) => [p.status, p.attempts, p.amount])).toEqual([["requested", 0, 2000]]);
    expect((await commissions(t.company)).map((c) => c.payout_id)).toEqual([po.id]);
  });
});

// ── 9. refunds racing payouts ───────────────────────────────────────────────

describe("a refund racing a payout", () => {
  it("a full refund before start_payout leaves nothing to pay: start_payout cancels the payout", async () => {
    const t = ids();
    const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    expect(await refund(t.company, p1, 100)).toEqual({
      duplicate: false,
      outcome: "refund_reversed",
    });
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 2000, "reversed"]]);
    expect(await startPayout(t.company, po.id)).toEqual({ id: po.id, status: "cancelled" });
    expect((await payouts(t.company)).map((p) => [p.status, p.reason, p.attempts])).toEqual([
      ["cancelled", "nothing left to pay", 0],
    ]);
    expect((await ledger(t.company)).filter((l) => l.kind === "payout")).toEqual([]);
    expect(await paidVsNet(t.company)).toEqual({ out: 0, net: 0 });
    // the member is not left with an open payout: the next request is judged on its balance
    await expectDomainError(
      requestPayout(t.company, t.referrer),
      400,
      "Your available balance (0 cents) is below the minimum payout (1000 cents)",
    );
    await expectDomainError(startPayout(t.company, po.id), 409, "A cancelled payout can't be paid");
  });

  it("a partial refund before start_payout reduces the amount sent", async () => {
    const t = ids();
    const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    expect(po.amount_cents).toBe(2000);
    await refund(t.company, p1, 30);
    const started = await startPayout(t.company, po.id);
    expect(started).toMatchObject({ id: po.id, status: "processing", amount_cents: 1400 });
    expect(Number(started.amount)).toBe(14);
    await completePayout(t.company, po.id, uid("xfer_"));
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 600, "paid"]]);
    expect((await ledger(t.company)).filter((l) => l.kind === "payout").map((l) => l.amount)).toEqual([-1400]);
    expect(await earnings(t.company, t.referrer)).toEqual([
      { currency: "USD", total_earnings: 1400, pending_earnings: 0, paid_earnings: 1400 },
    ]);
  });

  it("a refund while the payout is processing makes a clawback that the next payout nets", async () => {
    const t = ids();
    const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    await startPayout(t.company, po.id);
    expect(await refund(t.company, p1, 100)).toEqual({
      duplicate: false,
      outcome: "refund_reversed",
    });
    expect((await commissions(t.company)).map((c) => [c.kind, c.amount, c.reversed, c.status, c.payout_id])).toEqual([
      ["commission", 2000, 0, "available", po.id],
      ["clawback", -2000, 0, "available", null],
    ]);
    await completePayout(t.company, po.id, uid("xfer_"));
    expect(await availableBalance(t.company, t.referrer)).toBe(-2000);

    await pay(t.company, payment({ user: t.referee, total: 150 }));
    const po2 = await requestPayout(t.company, t.referrer);
    expect(po2.amount_cents).toBe(1000);
    await startPayout(t.company, po2.id);
    await completePayout(t.company, po2.id, uid("xfer_"));
    // paid 2000 + 1000 = earned 5000 − refunded 2000
    const [sent] = await rows<{ total: number }>(
      `select sum(amount_cents)::int as total from public.payouts where company_id = $1 and status = 'completed'`,
      [t.company],
    );
    const [earned] = await rows<{ net: number }>(
      `select sum(amount_cents - reversed_cents)::int as net from public.commissions where company_id = $1`,
      [t.company],
    );
    expect(sent.total).toBe(3000);
    expect(earned.net).toBe(3000);
    expect(await availableBalance(t.company, t.referrer)).toBe(0);
  });

  it("a payout that failed after a refund clawed back its commission is not resent for the refunded sale", async () => {
    const t = ids();
    const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    await startPayout(t.company, po.id);
    // refunded while the transfer is in flight: clawback
    await refund(t.company, p1, 100);
    // ... and then Whop refuses the transfer: nothing was sent, and nothing is owed any more
    await failPayout(t.company, po.id, "Ledger account has insufficient funds");
    expect(await availableBalance(t.company, t.referrer)).toBe(0);
    await rejection(startPayout(t.company, po.id));
    const [r] = await rows<{ out: number; owed: number }>(
      `select (select coalesce(sum(amount_cents), 0) from public.payouts
               where company_id = $1 and status in ('processing', 'completed'))::int as out,
              (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions
               where company_id = $1 and status <> 'cancelled')::int as owed`,
      [t.company],
    );
    expect(r).toEqual({ out: 0, owed: 0 });
  });

  it("a refund committing while start_payout is in flight never lets the payout exceed what is earned", async () => {
    const t = ids();
    const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    const { second } = await interleave(
      { text: `select public.start_payout(p_company_id => $1, p_payout_id => $2) as v`, params: [t.company, po.id] },
      () => refund(t.company, p1, 100),
    );
    expect(second.status).toBe("fulfilled");
    const { out, net } = await paidVsNet(t.company);
    expect(out).toBeLessThanOrEqual(net);
  });

  it("start_payout running while a refund is in flight never sends more than is earned", async () => {
    const t = ids();
    const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
    const po = await requestPayout(t.company, t.referrer);
    await interleave(
      {
        text: `select public.process_webhook_event(p_event_id => $1, p_type => 'refund.created', p_company_id => $2,
                 p_data => $3::jsonb) as v`,
        params: [
          uid("evt_"),
          t.company,
          JSON.stringify({ id: uid("re_"), amount: 100, status: "succeeded", payment: { id: p1 } }),
        ],
      },
      () => startPayout(t.company, po.id),
    );
    const { out, net } = await paidVsNet(t.company);
    expect(out).toBeLessThanOrEqual(net);
    expect(await brief(t.company)).toEqual([[t.referrer, 1, 2000, 2000, "reversed"]]);
  });

  it("refunds and start_payout run concurrently (20 members): payouts never exceed net commissions", async () => {
    const cases = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const t = ids();
        const [p1] = await earn(t.company, t.referrer, t.referee, [100], { ledger_account_id: "ldgr_test" });
        const po = await requestPayout(t.company, t.referrer);
        return { t, p1, po };
      }),
    );
    await Promise.allSettled(
      cases.flatMap(({ t, p1, po }) => [
        refund(t.company, p1, 100),
        startPayout(t.company, po.id),
      ]),
    );
    const over: string[] = [];
    for (const { t } of cases) {
      const { out, net } = await paidVsNet(t.company);
      if (out > net) over.push(`${t.company}: payouts ${out} > net commissions ${net}`);
    }
    expect(over).toEqual([]);
  });
});
