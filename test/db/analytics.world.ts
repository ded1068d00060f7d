/**
 * The analytics tests' own world, shared by test/db/analytics-*.test.ts: the reads (overview,
 * lists and their pages, member detail, wallet, member view), clicks, payments, membership
 * and dispute events in the positional forms the seeding reads best in, moving a member's or
 * a referral's rows in time (ledger triggers off for that transaction), a rebuild with writes
 * in flight, and the expected series and keyset orders. The generic set-up is test/world.ts.
 */
import { expect, inject } from "vitest";
import { call, pool, sqlRows as rows, uid, webhook } from "../helpers";
import * as world from "../world";

export const sql = pool(inject("sqlDbUrl"));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const rebuild = (company: string) => call("rebuild_analytics", { p_company_id: company });

export const overview = (company: string, from: string, to: string) =>
  call("get_overview", { p_company_id: company, p_from: from, p_to: to });

export const list = (fn: string, company: string, filter: Record<string, unknown> = {}) =>
  call(fn, { p_company_id: company, p_filter: filter });

/** Every page of a list, following `next` until it is null. */
export async function pages(fn: string, company: string, filter: Record<string, unknown>, limit: number): Promise<Json[][]> {
  const out: Json[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list(fn, company, { ...filter, limit, ...(after === undefined ? {} : { after }) });
    expect(page.rows.length, `${fn} page ${out.length + 1}`).toBeLessThanOrEqual(limit);
    out.push(page.rows);
    if (page.next === null) return out;
    expect(typeof page.next).toBe("string");
    after = page.next;
    if (out.length > 60) throw new Error(`${fn}: pagination does not end`);
  }
}

export const detail = (company: string, user: string) => call("get_member_detail", { p_company_id: company, p_user_id: user });
export const memberRow = async (company: string, user: string) => (await detail(company, user))?.member;

export const wallet = (company: string, user: string) => call("get_member_wallet", { p_company_id: company, p_user_id: user });

export const memberView = (company: string, user: string, username: string) =>
  call("get_member_view", { p_company_id: company, p_user_id: user, p_username: username, p_name: null });

/** A click on /r/CODE as record_click sees it (world.click, in the positional form the seeding reads best in). */
export const click = (code: string, visitor: string, referrer: string | null, country: string | null, bot = false) =>
  world.click(code, { visitor, referrer, country, bot });

/**
 * `user` (shown as `username`, also as the name) pays `total` dollars with `metadata`
 * (world.buy; every payment here is new, asserted); returns the outcome and the payment id.
 */
export const buy = (company: string, user: string, username: string, total: number, metadata: Record<string, unknown> | null = null) =>
  world.buy(company, { payer: user, username, total, metadata, fresh: true });

export const membership = (
  type: "membership.activated" | "membership.deactivated",
  company: string,
  user: string,
  username: string,
  metadata: Record<string, unknown> | null = null,
) =>
  webhook(uid("evt_"), type, company, {
    id: uid("mem_"),
    status: type === "membership.activated" ? "active" : "expired",
    user: { id: user, username, name: null },
    metadata,
  });

/** dispute.created `id` of `amount` dollars against `paymentId` (world.dispute). */
export const dispute = (company: string, id: string, paymentId: string, amount: number) => world.dispute(company, paymentId, amount, { id });

/** Run `statements` in one transaction; the ledger ones with triggers off (it is append-only). */
export async function inTransaction(statements: { text: string; params: unknown[]; ledger?: boolean }[]) {
  const client = await sql.connect();
  try {
    await client.query("begin");
    for (const s of statements.filter((x) => !x.ledger)) await client.query(s.text, s.params);
    if (statements.some((x) => x.ledger)) {
      // the ledger is append-only (a trigger refuses UPDATE): off for this transaction only
      await client.query("set local session_replication_role = replica");
      for (const s of statements.filter((x) => x.ledger)) await client.query(s.text, s.params);
    }
    await client.query("commit");
  } catch (e) {
    await client.query("rollback");
    throw e;
  } finally {
    client.release();
  }
}

export const MONEY_KINDS = `('commission', 'reversal', 'clawback', 'cancellation', 'payout')`;

/**
 * Move everything of referrer `member` to the moment `ts`: their clicks, their referrals
 * (created, signed up, converted), the attributed payments of their referees, their
 * commissions and their money ledger rows (commissions, reversals, clawbacks,
 * cancellations, payouts). The rollups are rebuilt by the caller.
 */
export const moveMember = (company: string, member: string, ts: string) =>
  inTransaction([
    {
      text: `update public.referral_clicks k set created_at = $3 from public.referral_codes c
             where c.id = k.code_id and c.company_id = $1 and c.user_id = $2`,
      params: [company, member, ts],
    },
    {
      text: `update public.referrals set created_at = $3::timestamptz,
               signed_up_at = case when signed_up_at is null then null else $3::timestamptz end,
               converted_at = case when converted_at is null then null else $3::timestamptz end
             where company_id = $1 and referrer_user_id = $2`,
      params: [company, member, ts],
    },
    {
      text: `update public.payments p set created_at = $3 from public.referrals r
             where r.id = p.referral_id and p.company_id = $1 and r.referrer_user_id = $2`,
      params: [company, member, ts],
    },
    {
      text: `update public.commissions set created_at = $3 where company_id = $1 and beneficiary_user_id = $2`,
      params: [company, member, ts],
    },
    {
      text: `update public.transactions set created_at = $3
             where company_id = $1 and user_id = $2 and kind in ${MONEY_KINDS}`,
      params: [company, member, ts],
      ledger: true,
    },
  ]);

/**
 * Move one referral of `referee` to `ts`: the referral, its click, the referee's attributed
 * payments, the referral's commissions and their ledger rows.
 */
export const moveReferral = (company: string, referee: string, ts: string) =>
  inTransaction([
    {
      text: `update public.referral_clicks set created_at = $3
             where id = (select click_id from public.referrals where company_id = $1 and referee_user_id = $2)`,
      params: [company, referee, ts],
    },
    {
      text: `update public.referrals set created_at = $3::timestamptz,
               signed_up_at = case when signed_up_at is null then null else $3::timestamptz end,
               converted_at = case when converted_at is null then null else $3::timestamptz end
             where company_id = $1 and referee_user_id = $2`,
      params: [company, referee, ts],
    },
    {
      text: `update public.payments set created_at = $3 where company_id = $1 and user_id = $2 and referral_id is not null`,
      params: [company, referee, ts],
    },
    {
      text: `update public.commissions set created_at = $3
             where company_id = $1 and referral_id = (select id from public.referrals where company_id = $1 and referee_user_id = $2)`,
      params: [company, referee, ts],
    },
    {
      text: `update public.transactions set created_at = $3
             where company_id = $1 and kind in ${MONEY_KINDS} and reference_type = 'commission'
               and reference_id in (select c.id::text from public.commissions c join public.referrals r on r.id = c.referral_id
                                    where r.company_id = $1 and r.referee_user_id = $2)`,
      params: [company, referee, ts],
      ledger: true,
    },
  ]);

/**
 * Run rebuild_analytics(company) in a transaction on its own connection and, while it is
 * still open, start `writes` (through the app's backend); commit once they finished or
 * have waited 1.5 s (they wait on the rebuild's row locks). Returns what the writes answered.
 */
export async function whileRebuilding(company: string, writes: (() => Promise<unknown>)[]): Promise<unknown[]> {
  const client = await sql.connect();
  try {
    await client.query("begin");
    await client.query("select public.rebuild_analytics($1)", [company]);
    const done = Promise.all(writes.map((w) => w()));
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 1500))]);
    await client.query("commit");
    return await done;
  } catch (e) {
    await client.query("rollback").catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

export const ZERO_DAY = { clicks: 0, signups: 0, conversions: 0, revenue_cents: 0, commissions_cents: 0 };
export type Day = typeof ZERO_DAY;

/** YYYY-MM-DD plus n days. */
export const plusDays = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** The series of `count` buckets `step` days apart from `first`, zero but for `filled`. */
export function series(first: string, count: number, filled: Record<string, Partial<Day>>, step = 1) {
  const out = Array.from({ length: count }, (_, i) => {
    const bucket = plusDays(first, i * step);
    return { bucket, ...ZERO_DAY, ...filled[bucket] };
  });
  for (const b of Object.keys(filled)) {
    if (!out.some((x) => x.bucket === b)) throw new Error(`bucket ${b} is outside the series`);
  }
  return out;
}

export const ZERO_KPIS = { ...ZERO_DAY, paid_cents: 0, active_referrers: 0 };

/** Today's date in UTC as the database sees it. */
export const todayUtc = async () =>
  (await rows<{ d: string }>(`select (now() at time zone 'UTC')::date::text as d`))[0].d;

/** Expected order of a keyset list: by value, then id, both in `dir`. */
export function keysetOrder<T>(items: T[], value: (x: T) => number, id: (x: T) => string, dir: "asc" | "desc"): T[] {
  const sign = dir === "asc" ? 1 : -1;
  return [...items].sort((a, b) => {
    const d = value(a) - value(b);
    if (d !== 0) return sign * d;
    return sign * (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0);
  });
}
