/**
 * The money lifecycle of supabase/migrations/20261121010000_money_lifecycle.sql, run for
 * real on the test Postgres (referly_sql) through the same pg backend and typed `rpc` the
 * app uses: multi-level and recurring commissions, flat and per-product rates, hold and
 * release, creator decisions, refunds and disputes (pro rata, clawbacks), payouts (with
 * concurrency), the points economy, and the expiry jobs. Every test works on its own
 * company and users, and asserts amounts to the cent and statuses exactly. Time passing
 * is simulated by moving timestamps back in SQL.
 */
import type pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { DomainError, type RpcBackend } from "../../lib/db";
import { createPgBackend } from "../../lib/db/pg";
import {
  call,
  codeOf,
  expectDomainError,
  ids,
  pay,
  paymentData,
  pool,
  rejection,
  sqlDb,
  sqlRows as rows,
  uid,
  webhook,
} from "../helpers";
import {
  availableBalance,
  cancelPayout,
  claim,
  completePayout,
  dispute,
  earnings,
  failPayout,
  payouts,
  refund,
  requestPayout,
  settings,
  startPayout,
  user,
} from "../world";

const db = sqlDb();
const sql = pool(inject("sqlDbUrl"));

afterAll(async () => {
  await db.close();
  await sql.end();
});

// ── helpers ─────────────────────────────────────────────────────────────────

/** A `payment.succeeded` data object (see paymentData) of product `prod_default` unless another is given. */
const payment = (o: Parameters<typeof paymentData>[0]) =>
  paymentData({ ...o, product: o.product ?? "prod_default" });

interface Commission {
  id: string;
  payment_id: string;
  who: string;
  level: number;
  kind: string;
  base: number;
  rate_bp: number;
  amount: number;
  reversed: number;
  status: string;
  payout_id: string | null;
  reason: string | null;
  refund_id: string | null;
  reverses: string | null;
}

const commissions = (company: string) =>
  rows<Commission>(
    `select id::text, payment_id, beneficiary_user_id as who, level, kind, base_amount_cents::int as base, rate_bp,
            amount_cents::int as amount, reversed_cents::int as reversed, status, payout_id::text, reason, refund_id,
            reverses_commission_id::text as reverses
     from public.commissions where company_id = $1 order by created_at, kind, level`,
    [company],
  );

/** [beneficiary, level, amount, reversed, status] of each commission. */
const brief = async (company: string, paymentId?: string) =>
  (await commissions(company))
    .filter((c) => paymentId === undefined || c.payment_id === paymentId)
    .map((c) => [c.who, c.level, c.amount, c.reversed, c.status]);

/** The money rows of the ledger. */
const ledger = (company: string) =>
  rows<{ kind: string; user_id: string; amount: number; reference_type: string; reference_id: string; memo: string | null }>(
    `select kind, user_id, amount_cents::int as amount, reference_type, reference_id, memo
     from public.transactions where company_id = $1 and kind <> 'points' order by id`,
    [company],
  );

/**
 * hold_days 0 (so commissions are available at once) plus `extra` settings; `referee`
 * pays each of `totals` (the first through `referrer`'s code, the rest as renewals).
 * Returns the payment ids.
 */
async function earn(
  company: string,
  referrer: string,
  referee: string,
  totals: number[],
  extra: Record<string, unknown> = {},
): Promise<string[]> {
  await settings(company, { hold_days: 0, ...extra });
  const code = await codeOf(company, referrer);
  const paymentIds: string[] = [];
  for (const [i, total] of totals.entries()) {
    const id = uid("pay_");
    const res = await pay(company, payment({ id, user: referee, total, code: i === 0 ? code : undefined }));
    expect(res).toEqual({ duplicate: false, outcome: "commission_created" });
    paymentIds.push(id);
  }
  return paymentIds;
}

const backdateConversion = (company: string, referee: string, interval: string) =>
  sql.query(
    `update public.referrals set converted_at = now() - $3::interval where company_id = $1 and referee_user_id = $2`,
    [company, referee, interval],
  );

/** The points rows of the ledger. */
const points = (company: string) =>
  rows<{ user_id: string; points: number; type: string; reference_type: string; reference_id: string; memo: string | null }>(
    `select user_id, points::int, points_type as type, reference_type, reference_id, memo
     from public.transactions where company_id = $1 and kind = 'points' order by id`,
    [company],
  );

const pointsBalance = async (company: string, member: string): Promise<number | undefined> =>
  (
    await rows<{ balance: number }>(
      `select balance::int from public.points_balances where company_id = $1 and user_id = $2`,
      [company, member],
    )
  )[0]?.balance;

/** The points_balances cache equals the ledger's sum for every member of the company. */
async function expectCacheMatchesLedger(company: string) {
  const r = await rows<{ user_id: string; cache: number; ledger: number }>(
    `select coalesce(b.user_id, l.user_id) as user_id, coalesce(b.balance, 0)::int as cache, coalesce(l.total, 0)::int as ledger
     from (select user_id, balance from public.points_balances where company_id = $1) b
     full join (select user_id, sum(points) as total from public.transactions
                where company_id = $1 and kind = 'points' group by user_id) l on l.user_id = b.user_id`,
    [company],
  );
  expect(r.length).toBeGreaterThan(0);
  for (const x of r) expect(x.cache, `cache of ${x.user_id}`).toBe(x.ledger);
}

/**
 * Move ledger rows back in time. The ledger is append-only (a trigger refuses UPDATE);
 * the test turns triggers off for its own transaction only (session_replication_role).
 */
async function backdateLedger(ids: string[], interval: string) {
  const client = await sql.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    const r = await client.query(
      `update public.transactions set created_at = now() - $2::interval where id = any($1::bigint[])`,
      [ids, interval],
    );
    await client.query("commit");
    expect(r.rowCount).toBe(ids.length);
  } catch (e) {
    await client.query("rollback");
    throw e;
  } finally {
    client.release();
  }
}

/**
 * Sum of completed/processing payouts vs the net (amount − reversed) of the member's
 * commissions (kind 'commission'; clawbacks are what a later payout nets).
 */
async function paidVsNet(company: string) {
  const [r] = await rows<{ out: number; net: number }>(
    `select (select coalesce(sum(amount_cents), 0) from public.payouts
             where company_id = $1 and status in ('processing', 'completed'))::int as out,
            (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions
             where company_id = $1 and kind = 'commission' and status <> 'cancelled')::int as net`,
    [company],
  );
  return r;
}

/**
 * Run `first` in an open transaction on its own connection, then `second` (through the
 * app's backend) while it is still open; commit `first` once `second` finished or has
 * waited 1.5 s (a lock would make it wait for the commit). Returns both outcomes.
 */
async function interleave(
  first: { text: string; params: unknown[] },
  second: () => Promise<unknown>,
): Promise<{ first: unknown; second: PromiseSettledResult<unknown> }> {
  const client: pg.PoolClient = await sql.connect();
  try {
    await client.query("begin");
    const firstResult = (await client.query(first.text, first.params)).rows[0]?.v;
    const secondP = Promise.allSettled([second()]).then((r) => r[0]);
    await Promise.race([secondP, new Promise((r) => setTimeout(r, 1500))]);
    await client.query("commit");
    return { first: firstResult, second: await secondP };
  } catch (e) {
    await client.query("rollback").catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/** Y ← Z ← A ← B: Z joined through Y, A through Z, B through A; C is new. */
async function chain(company: string) {
  const y = user("y");
  const zz = user("z");
  const a = user("a");
  const b = user("b");
  const c = user("c");
  await claim(company, zz, y);
  await claim(company, a, zz);
  await claim(company, b, a);
  return { y, z: zz, a, b, c };
}

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

// ── 10. points ──────────────────────────────────────────────────────────────

describe("points", () => {
  it("a conversion gives the referee REFERRAL_WELCOME 100 and the referrer REFERRAL_FIRST_PAYMENT 500, once", async () => {
    const t = ids();
    const p = payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) });
    await pay(t.company, p);
    expect(await points(t.company)).toEqual([
      { user_id: t.referee, points: 100, type: "REFERRAL_WELCOME", reference_type: "payment", reference_id: p.id, memo: null },
      { user_id: t.referrer, points: 500, type: "REFERRAL_FIRST_PAYMENT", reference_type: "payment", reference_id: p.id, memo: null },
    ]);
    expect(await pay(t.company, p)).toEqual({ duplicate: false, outcome: "duplicate_payment" });
    expect((await points(t.company)).length).toBe(2);
    expect(await pointsBalance(t.company, t.referee)).toBe(100);
    expect(await pointsBalance(t.company, t.referrer)).toBe(500);
    const wallet = await call("get_member_wallet", { p_company_id: t.company, p_user_id: t.referrer });
    expect(wallet.points.balance).toBe(500);
    await expectCacheMatchesLedger(t.company);
  });

  it("renewals give REFERRAL_RECURRING 100, not after points_recurring_months", async () => {
    const t = ids();
    await settings(t.company, { points_recurring_months: 2 });
    await pay(t.company, payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) }));
    const r1 = payment({ user: t.referee, total: 100 });
    await pay(t.company, r1);
    await backdateConversion(t.company, t.referee, "3 months");
    const r2 = payment({ user: t.referee, total: 100 });
    // still earns commission (recurring_months 12) but no more points
    expect(await pay(t.company, r2)).toEqual({ duplicate: false, outcome: "commission_created" });
    expect((await points(t.company)).filter((x) => x.user_id === t.referrer).map((x) => [x.type, x.points, x.reference_id])).toEqual([
      ["REFERRAL_FIRST_PAYMENT", 500, expect.any(String)],
      ["REFERRAL_RECURRING", 100, r1.id],
    ]);
    expect(await pointsBalance(t.company, t.referrer)).toBe(600);
    await expectCacheMatchesLedger(t.company);
  });

  it("the level-2 ancestor gets REFERRAL_L2 50, not after level2_months", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 2 });
    const zz = user("z");
    const a = user("a");
    const c = user("c");
    await claim(t.company, a, zz);
    const first = payment({ user: c, total: 100, code: await codeOf(t.company, a) });
    await pay(t.company, first);
    const r1 = payment({ user: c, total: 100 });
    await pay(t.company, r1);
    await backdateConversion(t.company, c, "7 months");
    const r2 = payment({ user: c, total: 100 });
    await pay(t.company, r2);
    expect((await points(t.company)).map((x) => [x.user_id, x.type, x.points, x.reference_id])).toEqual([
      [c, "REFERRAL_WELCOME", 100, first.id],
      [a, "REFERRAL_FIRST_PAYMENT", 500, first.id],
      [zz, "REFERRAL_L2", 50, first.id],
      [a, "REFERRAL_RECURRING", 100, r1.id],
      [zz, "REFERRAL_L2", 50, r1.id],
      [a, "REFERRAL_RECURRING", 100, r2.id],
    ]);
    expect(await pointsBalance(t.company, zz)).toBe(100);
    expect(await pointsBalance(t.company, a)).toBe(700);
    await expectCacheMatchesLedger(t.company);
  });

  it("a points setting of 0 turns that kind off", async () => {
    const t = ids();
    await settings(t.company, { mlm_enabled: true, max_level: 2, points_welcome: 0, points_l2: 0, points_recurring: 0 });
    const zz = user("z");
    const a = user("a");
    const c = user("c");
    await claim(t.company, a, zz);
    await pay(t.company, payment({ user: c, total: 100, code: await codeOf(t.company, a) }));
    await pay(t.company, payment({ user: c, total: 100 }));
    expect((await points(t.company)).map((x) => [x.user_id, x.type, x.points])).toEqual([[a, "REFERRAL_FIRST_PAYMENT", 500]]);
    expect(await pointsBalance(t.company, c)).toBeUndefined();
    expect(await pointsBalance(t.company, zz)).toBeUndefined();
    await expectCacheMatchesLedger(t.company);
  });

  it("grant_points by username or user id with a reason; a deduction below zero is refused and writes nothing", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 10 })); // caches the member and username
    const username = `name_${t.referee.slice(-6)}`;
    const grant = (member: string, delta: number, reason: string | null) =>
      call("grant_points", { p_company_id: t.company, p_member: member, p_delta: delta, p_reason: reason });

    expect(await grant(` ${username.toUpperCase()} `, 250, "contest winner")).toBe(250);
    expect(await grant(t.referee, -50, "correction")).toBe(200);
    await expectDomainError(grant(t.referee, -1000, "too much"), 400, "Not enough points: the balance is 200 and this needs 1000");
    await expectDomainError(grant(t.referee, 10, "  "), 400, "Give a reason");
    await expectDomainError(grant(t.referee, 0, "nothing"), 400, "Grant or deduct at least one point");
    await expectDomainError(grant("nobody_here", 10, "who?"), 404, 'No member "nobody_here" in this community');

    expect((await points(t.company)).map((x) => [x.user_id, x.type, x.points, x.reference_type, x.memo])).toEqual([
      [t.referee, "ADMIN_GRANT", 250, "admin", "contest winner"],
      [t.referee, "ADMIN_GRANT", -50, "admin", "correction"],
    ]);
    expect(await pointsBalance(t.company, t.referee)).toBe(200);
    await expectCacheMatchesLedger(t.company);
  });

  it("redeeming an item spends its cost and opens a pending redemption; a failed one refunds the points", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 10 }));
    await call("grant_points", { p_company_id: t.company, p_member: t.referee, p_delta: 500, p_reason: "seed" });
    const promo = await call("create_points_item", {
      p_company_id: t.company,
      p_item: { name: "20% off", cost_points: 300, grant_type: "promo_code", grant_config: { percent_off: 20 } },
    });
    expect(promo).toMatchObject({ name: "20% off", cost_points: 300, grant_type: "promo_code", is_active: true });
    const access = await call("create_points_item", {
      p_company_id: t.company,
      p_item: { name: "Free month", cost_points: 150, grant_type: "free_access", grant_config: { plan_id: "plan_x" } },
    });
    const redeem = (itemId: string) =>
      call("redeem_points_item", { p_company_id: t.company, p_user_id: t.referee, p_item_id: itemId });

    const r1 = await redeem(promo.id);
    expect(r1.redemption).toMatchObject({ user_id: t.referee, item_id: promo.id, cost_points: 300, status: "pending" });
    expect(await pointsBalance(t.company, t.referee)).toBe(200);

    // 300 more than the 200 left: refused, nothing written
    await expectDomainError(redeem(promo.id), 400, "Not enough points: the balance is 200 and this needs 300");
    expect(
      await rows(`select count(*)::int as n from public.redemptions where company_id = $1`, [t.company]),
    ).toEqual([{ n: 1 }]);

    const r2 = await redeem(access.id);
    expect(await pointsBalance(t.company, t.referee)).toBe(50);

    const settle = (id: string, status: string, result: unknown, error: string | null) =>
      call("settle_redemption", { p_company_id: t.company, p_redemption_id: id, p_status: status, p_result: result, p_error: error });
    expect(await settle(r1.redemption.id, "failed", null, "promo API down")).toMatchObject({
      status: "failed",
      error: "promo API down",
    });
    expect(await pointsBalance(t.company, t.referee)).toBe(350);
    await expectDomainError(settle(r1.redemption.id, "failed", null, "again"), 409, "A failed redemption can't become failed");
    expect(await settle(r2.redemption.id, "granted", { membership: "mem_1" }, null)).toMatchObject({ status: "granted" });
    expect(await settle(r2.redemption.id, "claimed", null, null)).toMatchObject({
      status: "claimed",
      result: { membership: "mem_1" },
    });
    expect(await pointsBalance(t.company, t.referee)).toBe(350);

    expect((await points(t.company)).map((x) => [x.type, x.points, x.reference_id, x.memo])).toEqual([
      ["ADMIN_GRANT", 500, expect.any(String), "seed"],
      ["REDEMPTION_PROMO_CODE", -300, r1.redemption.id, "20% off"],
      ["REDEMPTION_FREE_ACCESS", -150, r2.redemption.id, "Free month"],
      ["REDEMPTION_REFUND", 300, r1.redemption.id, "promo API down"],
    ]);
    await expectCacheMatchesLedger(t.company);
  });

  it("expire_points expires exactly the old unspent points, once", async () => {
    const t = ids();
    await pay(t.company, payment({ user: t.referee, total: 10 }));
    await pay(t.company, payment({ user: t.other, total: 10 }));
    const grant = (member: string, delta: number) =>
      call("grant_points", { p_company_id: t.company, p_member: member, p_delta: delta, p_reason: "grant" });
    // referee: 500 + 100 old; other: 300 old, all of it spent since
    await grant(t.referee, 500);
    await grant(t.referee, 100);
    await grant(t.other, 300);
    const old = await rows<{ id: string }>(`select id::text from public.transactions where company_id = $1 and kind = 'points'`, [
      t.company,
    ]);
    expect(old).toHaveLength(3);
    await backdateLedger(
      old.map((r) => r.id),
      "31 days",
    );
    await grant(t.referee, -200); // spent recently
    await grant(t.referee, 100); // earned recently
    await grant(t.other, -300);
    expect(await pointsBalance(t.company, t.referee)).toBe(500);

    await call("expire_points", {}); // whatever other tests left due (this program has no expiry yet)
    await settings(t.company, { points_expiry_days: 30 });
    // old 600 − spent 200 = 400 expire; the recent 100 stays
    expect(await call("expire_points", {})).toBe(400);
    expect(await pointsBalance(t.company, t.referee)).toBe(100);
    expect(await pointsBalance(t.company, t.other)).toBe(0);
    expect((await points(t.company)).filter((x) => x.type === "EXPIRY").map((x) => [x.user_id, x.points, x.reference_type])).toEqual([
      [t.referee, -400, "expiry"],
    ]);
    expect(await call("expire_points", {})).toBe(0);
    expect(await pointsBalance(t.company, t.referee)).toBe(100);
    expect((await points(t.company)).filter((x) => x.type === "EXPIRY")).toHaveLength(1);
    await expectCacheMatchesLedger(t.company);
  });
});

// ── 11. referral expiry ─────────────────────────────────────────────────────

describe("expire_referrals", () => {
  it("moves pending referrals past expires_at to expired; running it twice changes nothing", async () => {
    const t = ids();
    const late1 = user("l1");
    const late2 = user("l2");
    const fresh = user("f");
    await claim(t.company, late1, t.referrer);
    await claim(t.company, late2, t.referrer);
    await claim(t.company, fresh, t.referrer);
    await pay(t.company, payment({ user: t.referee, total: 100, code: await codeOf(t.company, t.referrer) }));
    await call("expire_referrals", {}); // whatever other tests left due
    await sql.query(
      `update public.referrals set expires_at = now() - interval '1 minute'
       where company_id = $1 and referee_user_id = any($2::text[])`,
      [t.company, [late1, late2, t.referee]],
    );
    expect(await call("expire_referrals", {})).toBe(2);
    const statuses = async () =>
      Object.fromEntries(
        (
          await rows<{ referee_user_id: string; status: string }>(
            `select referee_user_id, status from public.referrals where company_id = $1`,
            [t.company],
          )
        ).map((r) => [r.referee_user_id, r.status]),
      );
    const expected = { [late1]: "expired", [late2]: "expired", [fresh]: "pending", [t.referee]: "converted" };
    expect(await statuses()).toEqual(expected);
    expect(await call("expire_referrals", {})).toBe(0);
    expect(await statuses()).toEqual(expected);
  });
});
