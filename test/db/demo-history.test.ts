/**
 * The demo company's history (lib/demo/history.ts), seeded for real on two fresh
 * databases of the SQL tests' server (migrated, then supabase/seed.sql, as the launcher
 * does): it is idempotent, deterministic, alive (members, months of clicks, bots, a refund,
 * a clawback, payouts paid and open), its rollups reconcile and its ledger adds up.
 */
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrate, runSqlFile } from "../../lib/db/migrate";
import { seedDemoHistory } from "../../lib/demo/history";

const COMPANY = "biz_referlydemo";
const DATABASES = ["referly_demo_history_a", "referly_demo_history_b"];

const urlOf = (name: string) => {
  const u = new URL(inject("sqlDbUrl"));
  u.pathname = `/${name}`;
  return u.toString();
};

/** (Re)create a database on the SQL tests' server. */
async function recreate(name: string, drop = false) {
  const admin = new pg.Client({ connectionString: inject("sqlDbUrl") });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
    if (!drop) await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
}

/** Everything the demo shows, without ids or absolute dates: the same on any database, any day. */
const FINGERPRINT = `
  select jsonb_build_object(
    'stats', (select jsonb_agg(jsonb_build_object('u', u.username, 'clicks', s.clicks, 'signups', s.signups,
                'conversions', s.conversions, 'active', s.active_referrals) order by u.username)
              from public.referral_stats s join public.users u using (company_id, user_id) where s.company_id = $1),
    'money', (select jsonb_agg(to_jsonb(m) - 'company_id' - 'user_id' || jsonb_build_object('u', u.username) order by u.username)
              from public.member_money m join public.users u using (company_id, user_id) where m.company_id = $1),
    'payouts', (select jsonb_agg(jsonb_build_object('u', u.username, 'status', o.status, 'amount', o.amount_cents,
                  'commissions', (select count(*) from public.commissions c where c.payout_id = o.id)) order by o.requested_at)
                from public.payouts o join public.users u using (company_id, user_id) where o.company_id = $1),
    'commissions', (select jsonb_agg(x order by x::text) from (
                      select jsonb_build_object('kind', kind, 'status', status, 'n', count(*), 'net', sum(amount_cents - reversed_cents)) x
                      from public.commissions where company_id = $1 group by kind, status) s),
    'referrals', (select jsonb_agg(x order by x::text) from (
                    select jsonb_build_object('status', status, 'active', deactivated_at is null, 'n', count(*)) x
                    from public.referrals where company_id = $1 group by status, deactivated_at is null) s),
    'clicks', (select jsonb_agg(x order by x::text) from (
                 select jsonb_build_object('domain', public.referrer_domain(referrer_url), 'country', country, 'bot', is_bot,
                   'counted', counted, 'converted', converted, 'n', count(*)) x
                 from public.referral_clicks where company_id = $1
                 group by public.referrer_domain(referrer_url), country, is_bot, counted, converted) s),
    'ledger', (select jsonb_agg(x order by x::text) from (
                 select jsonb_build_object('kind', kind, 'type', points_type, 'n', count(*), 'cents', sum(amount_cents), 'points', sum(points)) x
                 from public.transactions where company_id = $1 group by kind, points_type) s),
    'points', (select jsonb_agg(jsonb_build_object('u', u.username, 'balance', b.balance) order by u.username)
               from public.points_balances b join public.users u using (company_id, user_id) where b.company_id = $1),
    'redemptions', (select jsonb_agg(jsonb_build_object('u', u.username, 'status', r.status, 'cost', r.cost_points) order by r.created_at)
                    from public.redemptions r join public.users u using (company_id, user_id) where r.company_id = $1),
    'refunds', (select jsonb_agg(jsonb_build_object('kind', kind, 'amount', amount_cents, 'status', status) order by created_at)
                from public.refunds where company_id = $1),
    'rows', (select jsonb_build_object('users', (select count(*) from public.users where company_id = $1),
               'payments', (select count(*) from public.payments where company_id = $1),
               'events', (select count(*) from public.webhook_events where company_id = $1),
               'daily', (select count(*) from public.daily_stats where company_id = $1)))) as v`;

const pools: pg.Pool[] = [];
const poolOf = (url: string) => {
  const p = new pg.Pool({ connectionString: url, max: 4 });
  pools.push(p);
  return p;
};

let a: pg.Pool;
let b: pg.Pool;
const seeded: { seeded: boolean; ms: number }[] = [];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fingerprint = async (db: pg.Pool): Promise<any> => (await db.query(FINGERPRINT, [COMPANY])).rows[0].v;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const rows = async <T = any>(text: string, params: unknown[] = [COMPANY]): Promise<T[]> => (await a.query(text, params)).rows;

beforeAll(async () => {
  for (const name of DATABASES) {
    await recreate(name);
    await migrate(urlOf(name));
    await runSqlFile(urlOf(name), path.join(process.cwd(), "supabase", "seed.sql"));
  }
  for (const name of DATABASES) {
    const t = performance.now();
    const r = await seedDemoHistory(urlOf(name));
    seeded.push({ seeded: r.seeded, ms: Math.round(performance.now() - t) });
  }
  console.log(`demo history seeded in ${seeded.map((s) => `${s.ms} ms`).join(" and ")}`);
  a = poolOf(urlOf(DATABASES[0]));
  b = poolOf(urlOf(DATABASES[1]));
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  for (const name of DATABASES) await recreate(name, true);
});

describe("the demo history", () => {
  it("is seeded once: a second run (every demo start, after seed.sql) changes nothing", async () => {
    expect(seeded.map((s) => s.seeded)).toEqual([true, true]);
    const before = await fingerprint(a);
    await runSqlFile(urlOf(DATABASES[0]), path.join(process.cwd(), "supabase", "seed.sql"));
    expect(await seedDemoHistory(urlOf(DATABASES[0]))).toEqual({ seeded: false, reason: "already seeded" });
    expect(await fingerprint(a)).toEqual(before);
  });

  it("is deterministic: a fresh database gets the same members, counts and money", async () => {
    expect(await fingerprint(b)).toEqual(await fingerprint(a));
  });

  it("looks alive: ~40 members, months of clicks from several sources, a few bots not counted", async () => {
    const [m] = await rows(`select count(*)::int as members, count(*) filter (where conversions > 0)::int as converting,
                                   max(conversions)::int as top, sum(conversions)::int as conversions
                            from public.referral_stats where company_id = $1`);
    expect(m.members).toBeGreaterThanOrEqual(35);
    expect(m.converting).toBeGreaterThanOrEqual(8);
    expect(m.top).toBeGreaterThanOrEqual(2 * (m.conversions / m.converting)); // a heavy tail: one star
    const [k] = await rows(`select count(distinct date_trunc('month', created_at))::int as months,
                                   count(distinct public.referrer_domain(referrer_url))::int as sources,
                                   count(distinct country)::int as countries,
                                   count(*) filter (where is_bot and not counted)::int as bots,
                                   count(*) filter (where is_bot and counted)::int as bots_counted,
                                   min(created_at) > now() - interval '181 days' and max(created_at) <= now() as in_range
                            from public.referral_clicks where company_id = $1`);
    expect(k.months).toBeGreaterThanOrEqual(5);
    expect(k.sources).toBeGreaterThanOrEqual(6);
    expect(k.countries).toBeGreaterThanOrEqual(8);
    expect(k.bots).toBeGreaterThanOrEqual(1);
    expect(k.bots_counted).toBe(0);
    expect(k.in_range).toBe(true);
    // nothing of the history is dated in the future, except when holds and windows end
    const [f] = await rows(`select
        (select count(*) from public.payments where company_id = $1 and created_at > now())::int
      + (select count(*) from public.transactions where company_id = $1 and created_at > now())::int
      + (select count(*) from public.commissions where company_id = $1 and (created_at > now() or paid_at > now()))::int
      + (select count(*) from public.payouts where company_id = $1 and (requested_at > now() or completed_at > now()))::int
      + (select count(*) from public.referrals where company_id = $1 and (created_at > now() or converted_at > now()))::int as n`);
    expect(f.n).toBe(0);
  });

  it("has signups, renewals, a churned member, a partial refund before payout and a clawback after", async () => {
    const [r] = await rows(`select count(*) filter (where status = 'converted')::int as converted,
                                   count(*) filter (where status in ('pending', 'expired'))::int as unpaid,
                                   count(*) filter (where deactivated_at is not null)::int as churned
                            from public.referrals where company_id = $1`);
    expect(r.converted).toBeGreaterThanOrEqual(25);
    expect(r.unpaid).toBeGreaterThanOrEqual(1);
    expect(r.churned).toBeGreaterThanOrEqual(1);
    const [p] = await rows(`select count(*)::int as payments, count(distinct user_id)::int as payers
                            from public.payments where company_id = $1 and payment_id like 'pay\\_hist\\_%'`);
    expect(p.payments).toBeGreaterThan(p.payers + 10); // renewals
    // the refund reduced a commission that was not paid yet; it was paid later, net
    const refunded = await rows(`select c.status, c.reversed_cents, c.amount_cents, f.created_at < o.requested_at as before_payout
      from public.refunds f join public.commissions c on c.company_id = f.company_id and c.payment_id = f.payment_id
      left join public.payouts o on o.id = c.payout_id
      where f.company_id = $1 and f.kind = 'refund' and f.status = 'succeeded'`);
    expect(refunded.length).toBeGreaterThanOrEqual(1);
    expect(Number(refunded[0].reversed_cents)).toBeGreaterThan(0);
    expect(Number(refunded[0].reversed_cents)).toBeLessThan(Number(refunded[0].amount_cents)); // partial
    expect(refunded[0].before_payout).not.toBe(false);
    const [rev] = await rows(`select count(*)::int as n from public.transactions where company_id = $1 and kind = 'reversal'`);
    expect(rev.n).toBeGreaterThanOrEqual(1);
    // the dispute came after the commission was paid: a clawback, netted in a later payout
    const claw = await rows(`select k.status, k.amount_cents, d.completed_at < k.created_at as after_payout
      from public.commissions k join public.commissions c on c.id = k.reverses_commission_id
      join public.payouts d on d.id = c.payout_id
      where k.company_id = $1 and k.kind = 'clawback'`);
    expect(claw.length).toBeGreaterThanOrEqual(1);
    expect(claw[0].after_payout).toBe(true);
    expect(Number(claw[0].amount_cents)).toBeLessThan(0);
    const [t] = await rows(`select count(*)::int as n from public.transactions where company_id = $1 and kind = 'clawback'`);
    expect(t.n).toBe(claw.length);
  });

  it("has payouts paid by the creator and payouts still waiting, and points spent on rewards", async () => {
    const payouts = await rows<{ status: string; n: number; transfers: number }>(
      `select status, count(*)::int as n, count(whop_transfer_id)::int as transfers from public.payouts
       where company_id = $1 group by status`,
    );
    const by = Object.fromEntries(payouts.map((p) => [p.status, p]));
    expect(by.completed?.n).toBeGreaterThanOrEqual(3);
    expect(by.completed?.transfers).toBe(by.completed?.n);
    expect(by.requested?.n).toBeGreaterThanOrEqual(1);
    expect(Object.keys(by).sort()).toEqual(["completed", "requested"]);
    const [x] = await rows(`select count(*) filter (where kind = 'points' and points < 0)::int as spent,
                                   count(*) filter (where points_type = 'REFERRAL_RECURRING')::int as recurring,
                                   count(*) filter (where points_type = 'REFERRAL_L2')::int as level2
                            from public.transactions where company_id = $1`);
    expect(x.spent).toBeGreaterThanOrEqual(1);
    expect(x.recurring).toBeGreaterThanOrEqual(1);
    expect(x.level2).toBeGreaterThanOrEqual(1);
  });

  it("reconciles: rollups = rows (check_analytics), and the ledger adds up for every member", async () => {
    const [check] = await rows(`select public.check_analytics($1) as v`);
    expect(check.v).toEqual({ ok: true, differences: [] });
    // points: the balance cache = Σ ledger points
    const points = await rows(`select coalesce(b.user_id, t.user_id) as user_id, coalesce(b.balance, 0)::text as balance,
        coalesce(t.s, 0)::text as ledger
      from (select user_id, balance from public.points_balances where company_id = $1) b
      full join (select user_id, sum(points) as s from public.transactions where company_id = $1 and kind = 'points' group by 1) t
        using (user_id)`);
    expect(points.length).toBeGreaterThanOrEqual(20);
    expect(points.filter((p) => p.balance !== p.ledger)).toEqual([]);
    // each completed payout = Σ net of its paid commissions (clawbacks included)
    const payouts = await rows(`select o.id, o.amount_cents::text as amount,
        (select coalesce(sum(c.amount_cents - c.reversed_cents), 0) from public.commissions c
         where c.payout_id = o.id and c.status = 'paid')::text as paid
      from public.payouts o where o.company_id = $1 and o.status = 'completed'`);
    expect(payouts.filter((p) => p.amount !== p.paid)).toEqual([]);
    // per member: earnings = the commission rows; Σ money ledger = what is owed and unpaid
    const members = await rows(`select m.u as user_id,
        (select coalesce(jsonb_agg(to_jsonb(e)), '[]') from public.get_user_referral_earnings($1, m.u) e) as earnings,
        (select coalesce(jsonb_agg(jsonb_build_object('currency', currency, 'total_earnings', total, 'pending_earnings', pending,
           'paid_earnings', paid) order by currency), '[]') from (
           select currency,
             coalesce(sum(amount_cents - reversed_cents) filter (where status in ('pending', 'available', 'paid')), 0)::bigint as total,
             coalesce(sum(amount_cents - reversed_cents) filter (where status in ('pending', 'available')), 0)::bigint as pending,
             coalesce(sum(amount_cents - reversed_cents) filter (where status = 'paid'), 0)::bigint as paid
           from public.commissions where company_id = $1 and beneficiary_user_id = m.u group by currency) s) as expected,
        (select coalesce(sum(amount_cents), 0) from public.transactions where company_id = $1 and user_id = m.u
           and kind in ('commission', 'reversal', 'clawback', 'cancellation', 'payout'))::text as ledger,
        (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions where company_id = $1
           and beneficiary_user_id = m.u and status in ('pending', 'available', 'on_hold'))::text as owed,
        (select coalesce(sum(amount_cents), 0) from public.payouts where company_id = $1 and user_id = m.u
           and status = 'completed')::text as completed,
        (select coalesce(sum(amount_cents - reversed_cents), 0) from public.commissions where company_id = $1
           and beneficiary_user_id = m.u and status = 'paid')::text as paid
      from (select distinct beneficiary_user_id as u from public.commissions where company_id = $1) m`);
    expect(members.length).toBeGreaterThanOrEqual(8);
    for (const m of members) {
      expect(m.earnings, `${m.user_id}: get_user_referral_earnings = the commission rows`).toEqual(m.expected);
      expect(m.ledger, `${m.user_id}: Σ money ledger = owed`).toBe(m.owed);
      expect(m.completed, `${m.user_id}: Σ completed payouts = Σ paid commissions`).toBe(m.paid);
    }
  });
});
