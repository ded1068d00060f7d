/**
 * Fraud decisions under concurrency: decisions racing refunds, payout requests and each other
 * on separate connections (no deadlock, only refusals in plain words, consistent money).
 * Run for real on the test Postgres (referly_sql) through the same pg backend and typed
 * `rpc` the app uses; data is made only through the real SQL functions (clicks and member-app
 * visits carry keyed hashes, payments carry the signals lib/fraud computes as
 * p_data.referly_signals), time passing is simulated by moving timestamps back in SQL.
 * check_analytics must stay ok for every company a test made (checked after each test).
 * Set-up lives in test/world.ts and test/db/fraud.world.ts.
 */
import type pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createPgBackend } from "../../lib/db/pg";
import { call, codeOf, sqlDb, sqlRows as rows, uid } from "../helpers";
import { claim, refund, requestPayout } from "../world";
import {
  sql,
  ADMIN,
  buy,
  email,
  referral,
  commissions,
  decide,
  payouts,
  expectMoneyConsistent,
  company,
  expectNoCrash,
} from "./fraud.world";

afterAll(async () => {
  await sqlDb().close();
  await sql.end();
});

// ── 5. races ────────────────────────────────────────────────────────────────

/** Run `first` in an open transaction, then `second` while it is open; commit after `second` ended or waited 1.5 s. */
async function interleave(first: (c: pg.PoolClient) => Promise<unknown>, second: () => Promise<unknown>) {
  const client = await sql.connect();
  try {
    await client.query("begin");
    const firstResult = await first(client).then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    const secondP = Promise.allSettled([second()]).then((r) => r[0]);
    await Promise.race([secondP, new Promise((r) => setTimeout(r, 1500))]);
    await client.query(firstResult.ok ? "commit" : "rollback");
    return { first: firstResult, second: await secondP };
  } finally {
    client.release();
  }
}

const sqlDecide = (c: pg.PoolClient, company: string, id: string, decision: string) =>
  c.query(`select public.decide_referral($1, $2::uuid, $3, 'race', $4) as v`, [company, id, decision, ADMIN]);
const sqlRefund = (c: pg.PoolClient, company: string, paymentId: string, amount: number) =>
  c.query(`select public.process_webhook_event($1, 'refund.created', $2, $3::jsonb) as v`, [
    uid("evt_"),
    company,
    JSON.stringify({ id: uid("re_"), amount, currency: "usd", status: "succeeded", payment: { id: paymentId } }),
  ]);
const sqlRequest = (c: pg.PoolClient, company: string, member: string) =>
  c.query(`select public.request_payout($1, $2) as v`, [company, member]);

describe("races", () => {
  it("a rejection racing a refund of the same payment: either order, no deadlock, nothing owed for the sale", async () => {
    for (const order of ["decideFirst", "refundFirst"] as const) {
      for (const amount of [30, 100]) {
        const t = await company({ hold_days: 0, mlm_enabled: true, max_level: 2 });
        await claim(t.company, t.referrer, t.other);
        const code = await codeOf(t.company, t.referrer);
        const { id: paymentId } = await buy(t.company, t.referee, 100, {
          code,
          signals: { email: "q@mailinator.com", email_disposable: true },
        });
        const ref = await referral(t.company, t.referee);
        const { first, second } =
          order === "decideFirst"
            ? await interleave(
                (c) => sqlDecide(c, t.company, ref.id, "reject"),
                () => refund(t.company, paymentId, amount),
              )
            : await interleave(
                (c) => sqlRefund(c, t.company, paymentId, amount),
                () => decide(t.company, ref.id, "reject", "race"),
              );
        expectNoCrash([first, second], `${order} ${amount}`);
        expect(second.status, `${order} ${amount}`).toBe("fulfilled");
        // nothing owed for the rejected sale: every commission cancelled or reversed, net of the ledger 0
        const cs = await commissions(t.company);
        expect(cs.filter((c) => c.kind === "commission").every((c) => ["cancelled", "reversed"].includes(c.status))).toBe(true);
        const [sum] = await rows<{ s: number }>(
          `select coalesce(sum(amount_cents), 0)::int as s from public.transactions
           where company_id = $1 and kind in ('commission', 'reversal', 'clawback', 'cancellation')`,
          [t.company],
        );
        expect(sum.s, `${order} ${amount}`).toBe(0);
        await expectMoneyConsistent(t.company);
      }
    }
  });

  it("an approval racing a partial refund of a held sale: the refunded share is reversed, the rest pending", async () => {
    for (const order of ["decideFirst", "refundFirst"] as const) {
      const t = await company({ hold_days: 14 });
      await email(t.company, t.referrer, "rogue.referrer@example.com");
      const code = await codeOf(t.company, t.referrer);
      const { id: paymentId } = await buy(t.company, t.referee, 100, { code, signals: { email: "rogue.referrer@example.com" } });
      const ref = await referral(t.company, t.referee);
      expect(ref.fraud_status).toBe("held");
      const { first, second } =
        order === "decideFirst"
          ? await interleave(
              (c) => sqlDecide(c, t.company, ref.id, "approve"),
              () => refund(t.company, paymentId, 30),
            )
          : await interleave(
              (c) => sqlRefund(c, t.company, paymentId, 30),
              () => decide(t.company, ref.id, "approve", "race"),
            );
      expectNoCrash([first, second], order);
      expect((await commissions(t.company)).map((c) => [c.amount, c.reversed, c.status])).toEqual([[2000, 600, "pending"]]);
      await expectMoneyConsistent(t.company);
    }
  });

  it("a rejection racing a payout request (20 at once, 3 commissions each): no deadlock, the payout never holds rejected money", async () => {
    const many = createPgBackend(inject("sqlDbUrl"), 50);
    try {
      const cases = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const t = await company({ hold_days: 0 });
          const code = await codeOf(t.company, t.referrer);
          await buy(t.company, t.other, 50, { code });
          await buy(t.company, t.referee, 100, { code, signals: { email: "q@mailinator.com", email_disposable: true } });
          await buy(t.company, t.referee, 100);
          await buy(t.company, t.referee, 100);
          return { t, ref: await referral(t.company, t.referee) };
        }),
      );
      for (const c of cases) expect(c.ref.fraud_status).toBe("flagged");
      const settled = await Promise.allSettled(
        cases.flatMap(({ t, ref }, i) => {
          const d = call(
            "decide_referral",
            { p_company_id: t.company, p_referral_id: ref.id, p_decision: "reject", p_reason: "race", p_actor: ADMIN },
            many,
          );
          const r = requestPayout(t.company, t.referrer, many);
          return i % 2 ? [d, r] : [r, d];
        }),
      );
      expectNoCrash(settled, "decide_referral ∥ request_payout");
      for (const { t, ref } of cases) {
        const cs = await commissions(t.company);
        const rejected = cs.filter((c) => c.kind === "commission" && c.amount === 2000);
        expect(rejected.map((c) => [c.status, c.payout_id])).toEqual([
          ["cancelled", null],
          ["cancelled", null],
          ["cancelled", null],
        ]);
        const open = (await payouts(t.company)).filter((p) => p.status === "requested");
        for (const p of open) expect(p.amount).toBe(1000);
        expect((await referral(t.company, t.referee)).fraud_status).toBe("rejected");
        expect(ref).toBeTruthy();
        await expectMoneyConsistent(t.company);
      }
    } finally {
      await many.close();
    }
  }, 60_000);

  it("a rejection racing a payout request, interleaved both ways: the payout asks for exactly the clean money", async () => {
    for (const order of ["decideFirst", "requestFirst"] as const) {
      const t = await company({ hold_days: 0 });
      const code = await codeOf(t.company, t.referrer);
      await buy(t.company, t.other, 50, { code });
      await buy(t.company, t.referee, 100, { code, signals: { email: "q@mailinator.com", email_disposable: true } });
      await buy(t.company, t.referee, 100);
      const ref = await referral(t.company, t.referee);
      const { first, second } =
        order === "decideFirst"
          ? await interleave(
              (c) => sqlDecide(c, t.company, ref.id, "reject"),
              () => requestPayout(t.company, t.referrer),
            )
          : await interleave(
              (c) => sqlRequest(c, t.company, t.referrer),
              () => decide(t.company, ref.id, "reject", "race"),
            );
      expectNoCrash([first, second], order);
      expect(second.status, order).toBe("fulfilled");
      expect((await payouts(t.company)).map((p) => [p.amount, p.status]), order).toEqual([[1000, "requested"]]);
      await expectMoneyConsistent(t.company);
    }
  });
});
