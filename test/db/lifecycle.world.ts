/**
 * The money lifecycle's own test world, shared by test/db/lifecycle-*.test.ts: payments of a
 * default product, the commission, ledger and points rows as the tests read them, earning
 * (hold 0, a first payment through a code and renewals), moving rows back in time, and an
 * open transaction on its own connection to race the app's calls against. The generic
 * set-up (programs, refunds, disputes, payouts) is test/world.ts.
 */
import type pg from "pg";
import { expect, inject } from "vitest";
import { codeOf, ids, pay, paymentData, pool, sqlDb, sqlRows as rows, uid } from "../helpers";
import { claim, settings, user } from "../world";

export const db = sqlDb();
export const sql = pool(inject("sqlDbUrl"));

/** A `payment.succeeded` data object (see paymentData) of product `prod_default` unless another is given. */
export const payment = (o: Parameters<typeof paymentData>[0]) =>
  paymentData({ ...o, product: o.product ?? "prod_default" });

export interface Commission {
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

export const commissions = (company: string) =>
  rows<Commission>(
    `select id::text, payment_id, beneficiary_user_id as who, level, kind, base_amount_cents::int as base, rate_bp,
            amount_cents::int as amount, reversed_cents::int as reversed, status, payout_id::text, reason, refund_id,
            reverses_commission_id::text as reverses
     from public.commissions where company_id = $1 order by created_at, kind, level`,
    [company],
  );

/** [beneficiary, level, amount, reversed, status] of each commission. */
export const brief = async (company: string, paymentId?: string) =>
  (await commissions(company))
    .filter((c) => paymentId === undefined || c.payment_id === paymentId)
    .map((c) => [c.who, c.level, c.amount, c.reversed, c.status]);

/** The money rows of the ledger. */
export const ledger = (company: string) =>
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
export async function earn(
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

export const backdateConversion = (company: string, referee: string, interval: string) =>
  sql.query(
    `update public.referrals set converted_at = now() - $3::interval where company_id = $1 and referee_user_id = $2`,
    [company, referee, interval],
  );

/** The points rows of the ledger. */
export const points = (company: string) =>
  rows<{ user_id: string; points: number; type: string; reference_type: string; reference_id: string; memo: string | null }>(
    `select user_id, points::int, points_type as type, reference_type, reference_id, memo
     from public.transactions where company_id = $1 and kind = 'points' order by id`,
    [company],
  );

export const pointsBalance = async (company: string, member: string): Promise<number | undefined> =>
  (
    await rows<{ balance: number }>(
      `select balance::int from public.points_balances where company_id = $1 and user_id = $2`,
      [company, member],
    )
  )[0]?.balance;

/** The points_balances cache equals the ledger's sum for every member of the company. */
export async function expectCacheMatchesLedger(company: string) {
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
export async function backdateLedger(ids: string[], interval: string) {
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
export async function paidVsNet(company: string) {
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
export async function interleave(
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
export async function chain(company: string) {
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
