/**
 * Benchmark (not a test): the reads behind Referly's pages at 100 000 members.
 *
 *   npx tsx bench/reads.ts [--scale 1|0.1] [--calls 30] [--keep | --dir <kept folder>]
 *
 * Seeding takes ~1 min at --scale 0.1 and ~10 min at 1 on 2 cores (more on a busy machine);
 * --keep keeps the embedded cluster's folder, and --dir <that folder> (same --scale) measures
 * it again without seeding (pending migrations are applied first, so a SQL fix can be timed).
 *
 * Starts an embedded Postgres in a folder under the OS temp dir (or uses DATABASE_URL, which
 * must then be an empty database made for this; the bench creates <db>_small_alone next to
 * it), applies the migrations, and seeds with
 * set-based SQL straight into the tables (`session_replication_role = replica`, so neither
 * the per-row rollup triggers nor the ledger's append-only trigger run; the rollups are then
 * built from the source rows by `rebuild_analytics`, then VACUUM ANALYZE):
 *
 *   biz_small  200 members (users + referral_codes), 1 000 referrals, 4 000 clicks, with
 *              their payments, commissions, payouts and points — the same size at every
 *              --scale: it is the reference the big company must not slow down.
 *   biz_big    × scale: 100 000 members; 1 000 000 referrals (the top referrer, member 1, has
 *              6 %, the rest follow a heavy tail; ~70 % converted, dated over the last 12
 *              months, more recent ones more numerous; half the members were referred too,
 *              so referees are ~950 000 extra users); 5 000 000 clicks (top member 6 %, ~85 %
 *              counted, 5 % bots); ~2 100 000 payments (1–5 per converted referral), one
 *              level-1 commission each (pending within the 14-day hold, paid in monthly
 *              payouts before this month, available this month, some in an open payout; 3 %
 *              reversed, 2 % on hold, 1 % cancelled, 0.5 % of paid ones clawed back), the
 *              completed / failed / open payouts, and the ledger's commission, reversal,
 *              cancellation, clawback, payout and points rows (welcome, first payment,
 *              recurring, a few redemptions) with points_balances.
 *   Rows are inserted in created_at order, as the app writes them. Not seeded: webhook
 *   events, refunds, payout_items and 'payment' ledger rows (no page reads them).
 *
 * Then, through a pg Pool like the app's (sequential calls reuse one pooled connection, so
 * plpgsql's cached generic plans show), it times each read the pages make — median and p95
 * over --calls calls after 2 warm-up calls, varying the member where it makes sense (those are
 * timed twice: "(first read)", each member's first read since the server started, then again
 * over the same members, the rows the growth budget compares):
 *   member Home   get_member_view and get_member_wallet, typical members and the top referrer
 *   Overview      get_overview for 30 days, 90 days and 12 months
 *   lists         list_members (default, sort=revenue, q search), list_referrals (all,
 *                 status=converted, member=top), list_commissions (all, status=paid,
 *                 member=top, last 30 days, sort=amount), list_payouts: the first page and
 *                 the page reached by following `next` 20 times
 *   member page   get_member_detail (top referrer and typical members)
 * The small company's baseline lives in a second database on the same server
 * (<db>_small_alone) holding biz_small alone; after biz_big is measured, each biz_small read is
 * timed on the pool that just served biz_big and on the baseline's pool, call by call in
 * alternation, so that other work on a shared machine slows both sides alike.
 *
 * Budgets (PASS/MISS, at --scale 1): member Home ≤ 5 ms p95 (top referrer included), Overview
 * 90 days ≤ 50 ms p95, any list page ≤ 20 ms p95 (the member page too), biz_small ≤ 1.2× its
 * baseline median; and from --scale 0.1 to 1 no list page, member view or Overview median
 * grows by more than 1.5× (each run saves its figures to <tmp>/referly-bench-reads-<scale>.json;
 * a run compares itself with the other scale's file when there is one).
 * Timings are wall-clock through the pool, as the app sees them (budgets use these). Since a
 * busy machine inflates them, the load average is printed, and so is "cpu ms": the server's
 * on-CPU time per call (from /proc/<backend pid>/schedstat, when the server runs here), the
 * read's own cost whatever else shares the machine (it leaves out waits such as a commit's
 * WAL flush).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbedded, type EmbeddedDb } from "../lib/db/embedded";
import { migrate } from "../lib/db/migrate";
import { createPgBackend } from "../lib/db/pg";

// ── Options ──────────────────────────────────────────────────────────────────
const flag = (name: string) => process.argv.includes(`--${name}`);
const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const SCALE = Number(option("scale", "1"));
const CALLS = Number(option("calls", "30"));
const KEEP = flag("keep");
const REUSE = option("dir", ""); // a folder kept by --keep: measure again without seeding
const WARMUP = 2;
const DEEP_PAGES = 20;
if (!(SCALE > 0 && SCALE <= 1) || !(CALLS >= 5)) {
  throw new Error("usage: npx tsx bench/reads.ts [--scale 1|0.1] [--calls 30] [--keep | --dir <kept folder>]");
}

const BUDGET = { home: 5, overview90: 50, list: 20, smallRatio: 1.2, growth: 1.5 };

interface Company {
  id: string;
  /** one letter, prefixes user ids (user_<p>m<i>, user_<p>c<j>), usernames and codes */
  p: string;
  members: number;
  referrals: number;
  clicks: number;
}
const SMALL: Company = { id: "biz_small", p: "s", members: 200, referrals: 1_000, clicks: 4_000 };
const BIG: Company = {
  id: "biz_big",
  p: "b",
  members: Math.round(100_000 * SCALE),
  referrals: Math.round(1_000_000 * SCALE),
  clicks: Math.round(5_000_000 * SCALE),
};
const TOP_SHARE = 0.06; // of referrals and of clicks, to member 1

// ── Database ─────────────────────────────────────────────────────────────────
// Two databases on one server: `url` gets both companies, `aloneUrl` (made next to it) only
// biz_small, the baseline — measured interleaved with biz_small next to biz_big, so that the
// load of a shared machine falls on both sides alike.
let db: EmbeddedDb | undefined;
let url = process.env.DATABASE_URL;
let dataDir: string | undefined;
if (!url) {
  dataDir = REUSE || mkdtempSync(path.join(tmpdir(), "referly-bench-reads-"));
  db = await startEmbedded({ dir: dataDir, persistent: KEEP || !!REUSE });
  await db.createDatabase("bench");
  url = db.url("bench");
}
const aloneUrl = (() => {
  const u = new URL(url);
  u.pathname = `${u.pathname.replace(/^\//, "") || "postgres"}_small_alone`;
  return u.toString();
})();
const admin = new pg.Client({ connectionString: url });
await admin.connect();
if ((await admin.query("select 1 from pg_database where datname = $1", [new URL(aloneUrl).pathname.slice(1)])).rowCount === 0) {
  await admin.query(`create database "${new URL(aloneUrl).pathname.slice(1)}"`);
}
await migrate(url);
await migrate(aloneUrl);
const aloneAdmin = new pg.Client({ connectionString: aloneUrl });
await aloneAdmin.connect();
const companies = async (cx: pg.Client) =>
  (await cx.query<{ company_id: string }>("select company_id from public.programs order by 1")).rows.map((r) => r.company_id).join(",");
const members = async () =>
  Number((await admin.query("select count(*) as n from public.referral_codes where company_id = $1", [BIG.id])).rows[0].n);
const seeded = REUSE !== "" && (await companies(admin)) === `${BIG.id},${SMALL.id}` && (await companies(aloneAdmin)) === SMALL.id;
if (seeded && (await members()) !== BIG.members) throw new Error(`${REUSE} was seeded at another --scale`);
if (!seeded && ((await companies(admin)) || (await companies(aloneAdmin)))) {
  throw new Error(`the databases are not empty (use an empty database, or --dir with a folder kept by --keep)`);
}
if (db && !seeded) {
  // bulk-load settings of this throwaway cluster (reloaded, no restart); autovacuum back on after
  await admin.query(`alter system set max_wal_size = '8GB'`);
  await admin.query(`alter system set checkpoint_timeout = '30min'`);
  await admin.query(`alter system set autovacuum = off`);
  await admin.query(`select pg_reload_conf()`);
}
console.log(
  `Postgres ${(await admin.query("show server_version")).rows[0].server_version}, shared_buffers ${(await admin.query("show shared_buffers")).rows[0].shared_buffers}, scale ${SCALE}, ${CALLS} calls per read`,
);

// ── Seeding ──────────────────────────────────────────────────────────────────
async function step(cx: pg.Client, label: string, sql: string) {
  const t = performance.now();
  const r = await cx.query(sql);
  const rows = Array.isArray(r) ? r.reduce((n, x) => n + (x.rowCount ?? 0), 0) : (r.rowCount ?? 0);
  console.log(`  ${label.padEnd(44)} ${String(rows).padStart(9)} rows ${((performance.now() - t) / 1000).toFixed(1).padStart(7)} s`);
}

/**
 * Seeds one company (see the header). The SQL names its sizes :co, :p, :members, :referrals,
 * :clicks, :top_referrals, :top_clicks; they are our own constants, written in as literals.
 */
async function seed(cx: pg.Client, c: Company) {
  const t0 = performance.now();
  console.log(`Seeding ${c.id}: ${c.members} members, ${c.referrals} referrals, ${c.clicks} clicks`);
  const vars: Record<string, string> = {
    co: `'${c.id}'`,
    p: `'${c.p}'`,
    members: String(c.members),
    referrals: String(c.referrals),
    clicks: String(c.clicks),
    top_referrals: String(Math.round(c.referrals * TOP_SHARE)),
    top_clicks: String(Math.round(c.clicks * TOP_SHARE)),
  };
  const sql = (text: string) => text.replace(/:([a-z_]+)\b/g, (m, k: string) => vars[k] ?? m);
  const run = (label: string, text: string) => step(cx, label, sql(text));
  await cx.query(`set session_replication_role = replica; set work_mem = '256MB'; set maintenance_work_mem = '1GB';
    set temp_buffers = '1GB'; set synchronous_commit = off; select setseed(${c.p === "b" ? 0.42 : 0.17})`);
  const member = `'user_' || :p || 'm'`; // || index
  // ids are derived from their key, so later statements can compute them, and are valid v4
  // UUIDs (version and variant bits set), which the app's z.uuid() requires
  const uuid = (key: string) => `overlay(overlay(md5(${key}) placing '4' from 13) placing '8' from 17)::uuid`;
  const code = (index: string) => uuid(`:co || ':code:' || ${index}`);

  await run(
    "programs, points_items",
    `insert into public.programs (company_id, name, created_at) values (:co, 'Bench ' || :co, now() - interval '400 days');
     insert into public.points_items (company_id, name, cost_points, grant_type, grant_config)
     values (:co, 'Shout-out', 500, 'custom', '{"note": "a shout-out in the community"}'),
            (:co, '20% off', 1500, 'discount', '{"percent_off": 20}'),
            (:co, 'A free month', 5000, 'product_unlock', '{"plan_id": "plan_bench"}')`,
  );
  await run(
    "users: members",
    `insert into public.users (company_id, user_id, username, name, created_at, updated_at)
     select :co, ${member} || i, :p || 'member' || i, 'Member ' || i, t, t
     from (select i, now() - interval '400 days' * random() as t from generate_series(1, :members) i) s`,
  );
  // referral j's referee: member j/20 for every 20th j (half the members were referred), else customer j
  const referee = `case when j % 20 = 0 and j / 20 <= :members then ${member} || (j / 20) else 'user_' || :p || 'c' || j end`;
  await run(
    "users: referees",
    `insert into public.users (company_id, user_id, username, name, created_at, updated_at)
     select :co, 'user_' || :p || 'c' || j, :p || 'cust' || j, null, t, t
     from (select j, now() - interval '365 days' * random() as t from generate_series(1, :referrals) j) s
     where not (j % 20 = 0 and j / 20 <= :members)`,
  );
  await run(
    "referral_codes",
    `insert into public.referral_codes (id, company_id, user_id, code, is_active, created_at)
     select ${code("i")}, :co, ${member} || i, upper(:p) || 'M' || i, i % 250 <> 0, now() - interval '400 days'
     from generate_series(1, :members) i`,
  );
  // referrer: member 1 for the first 6 %, else 2 + (members-1)·u³ (a heavy tail); never the referee
  await run(
    "referrals",
    `insert into public.referrals (company_id, referrer_user_id, referee_user_id, code_id, source, status, signed_up_at,
       converted_at, expires_at, deactivated_at, created_at, updated_at)
     with base as materialized (
       select j, ${referee} as referee,
         case when j <= :top_referrals then 1 else 2 + floor((:members - 1) * power(random(), 3))::int end as ref_i,
         now() - interval '365 days' * (1 - sqrt(random())) as created_at,
         random() as r_status, random() as r_conv, random() as r_sign, random() as r_deact, random() as r_src
       from generate_series(1, :referrals) j),
     fixed as (
       select b.*, case when referee = ${member} || ref_i then ref_i % :members + 1 else ref_i end as referrer_i,
         case when r_status < 0.70 then 'converted' when r_status < 0.72 then 'cancelled'
              when created_at > now() - interval '90 days' then 'pending' else 'expired' end as status,
         least(created_at + interval '10 days' * power(r_conv, 2), now()) as conv_at
       from base b)
     select :co, ${member} || referrer_i, referee, ${code("referrer_i")}, case when r_src < 0.85 then 'link' else 'claim' end,
       status,
       case when status = 'converted' and r_sign < 0.9 then created_at + (conv_at - created_at) * r_sign
            when status in ('pending', 'expired') and r_sign < 0.4 then created_at + interval '1 day' * r_sign end,
       case when status = 'converted' then conv_at end,
       created_at + interval '90 days',
       case when status = 'converted' and r_deact < 0.15 then conv_at + (now() - conv_at) * (r_deact / 0.15) end,
       created_at as created, case when status = 'converted' then conv_at else created_at end
     from fixed order by created`,
  );
  await run(
    "referral_clicks",
    `insert into public.referral_clicks (company_id, code_id, visitor_hash, user_agent, referrer_url, country, is_bot, counted,
       converted, created_at)
     select :co, ${code("code_i")}, md5(:p || k), case when r_bot < 0.05 then 'Googlebot/2.1' else 'Mozilla/5.0 Chrome/131' end,
       (array['https://www.youtube.com/watch?v=abc', 'https://twitter.com/someone/status/1', 'https://t.co/xyz',
              'https://www.reddit.com/r/side/comments/1', 'https://discord.com/channels/1/2', 'https://www.google.com/',
              'https://www.instagram.com/p/1', 'https://www.tiktok.com/@x/video/1', null, null])[1 + floor(r_src * 10)::int],
       (array['US', 'US', 'US', 'GB', 'DE', 'FR', 'CA', 'BR', 'IN', 'AU', 'NL', null])[1 + floor(r_cty * 12)::int],
       r_bot < 0.05, r_bot >= 0.15, r_bot >= 0.15 and r_conv < 0.1, created_at
     from (select k, case when k <= :top_clicks then 1 else 2 + floor((:members - 1) * power(random(), 3))::int end as code_i,
             now() - interval '365 days' * (1 - sqrt(random())) as created_at,
             random() as r_bot, random() as r_src, random() as r_cty, random() as r_conv
           from generate_series(1, :clicks) k) s
     order by created_at`,
  );

  // Payments (1–5 per converted referral, from conversion until now or deactivation) and their
  // commission, staged once: status by age, payout by month (completed before this month).
  await run(
    "stage payments + commissions",
    `drop table if exists pg_temp.stage;
     create temporary table stage as
     select row_number() over (order by created_at) as seq, y.*,
       case when r_status < 0.03 then 'reversed' when r_status < 0.05 then 'on_hold' when r_status < 0.06 then 'cancelled'
            when created_at + interval '14 days' > now() then 'pending'
            when created_at + interval '14 days' < date_trunc('month', now()) then 'paid'
            else 'available' end as status,
       amount / 5 as commission
     from (
       select x.id as referral_id, x.referrer_user_id as beneficiary, x.referee_user_id as payer, x.price as amount, g.k,
         x.converted_at + (coalesce(x.deactivated_at, now()) - x.converted_at) * g.k / x.n as created_at,
         random() as r_status, random() as r_claw
       from (select r.*, 1 + floor(random() * 5)::int as n, (array[999, 2999, 4999, 9999])[1 + floor(random() * 4)::int] as price
             from public.referrals r where r.company_id = :co and r.status = 'converted') x,
         generate_series(0, x.n - 1) g(k)) y;
     alter table stage add column id uuid, add column payout_id uuid, add column paid_at timestamptz;
     update stage set id = ${uuid(":co || ':com:' || seq")},
       payout_id = case when status = 'paid' then ${uuid(":co || ':payout:' || beneficiary || ':' || date_trunc('month', created_at + interval '14 days')")}
                        when status = 'available' and abs(hashtext(beneficiary)) % 20 = 0 then ${uuid(":co || ':open:' || beneficiary")} end,
       paid_at = case when status = 'paid' then least(now(), date_trunc('month', created_at + interval '14 days') + interval '1 month 1 hour'
                        + interval '1 minute' * (abs(hashtext(beneficiary)) % 2880)) end;
     analyze stage`,
  );
  await run(
    "payments",
    `insert into public.payments (company_id, payment_id, user_id, referral_id, amount_cents, tax_cents, currency, product_id,
       refunded_cents, created_at)
     select :co, 'pay_' || :p || seq, payer, referral_id, amount, 0, 'USD', 'prod_bench',
       case when status = 'reversed' or (status = 'paid' and r_claw < 0.005) then amount else 0 end, created_at
     from stage order by seq`,
  );
  await run(
    "payouts (completed, failed, open)",
    `insert into public.payouts (id, company_id, user_id, amount_cents, currency, status, whop_transfer_id, attempts, requested_at,
       completed_at, updated_at)
     select payout_id, :co, beneficiary, sum(commission), 'USD', 'completed', 'tr_' || md5(payout_id::text), 1,
       min(paid_at) - interval '1 hour', min(paid_at), min(paid_at)
     from stage where status = 'paid' group by payout_id, beneficiary
     union all
     select payout_id, :co, beneficiary, sum(commission), 'USD', 'requested', null, 0, now() - interval '1 hour', null, now() - interval '1 hour'
     from stage where status = 'available' and payout_id is not null group by payout_id, beneficiary
     order by 9;
     insert into public.payouts (company_id, user_id, amount_cents, currency, status, error, attempts, requested_at, updated_at)
     select :co, user_id, amount_cents, 'USD', 'failed', 'Whop transfer failed: the ledger account has no balance', 1,
       requested_at - interval '1 day', requested_at - interval '1 day'
     from public.payouts where company_id = :co and status = 'completed' and abs(hashtext(id::text)) % 100 = 0`,
  );
  await run(
    "commissions (+ clawbacks)",
    `insert into public.commissions (id, company_id, referral_id, payment_id, beneficiary_user_id, level, base_amount_cents, rate_bp,
       amount_cents, currency, status, available_at, created_at, updated_at, kind, reversed_cents, refund_id, reverses_commission_id,
       payout_id, paid_at, reason)
     select * from (
       select id, :co, referral_id, 'pay_' || :p || seq, beneficiary, 1, amount, 2000, commission, 'USD', status,
         created_at + interval '14 days', created_at, coalesce(paid_at, created_at), 'commission',
         case when status = 'reversed' then commission else 0 end, null, null::uuid, payout_id, paid_at,
         case when status = 'cancelled' then 'Self-referral' end
       from stage
       union all
       select ${uuid(":co || ':claw:' || seq")}, :co, referral_id, 'pay_' || :p || seq, beneficiary, 1, amount, 2000, -commission,
         'USD', 'available', least(now(), paid_at + interval '3 days'), least(now(), paid_at + interval '3 days'),
         least(now(), paid_at + interval '3 days'), 'clawback', 0, 'rfd_' || :p || seq, id, null, null, 'refund'
       from stage where status = 'paid' and r_claw < 0.005) x
     order by created_at`,
  );
  // The ledger: commission movements (program currency), payouts, points (the default points amounts).
  await run(
    "transactions (ledger)",
    `insert into public.transactions (company_id, user_id, kind, amount_cents, currency, points, points_type, reference_type,
       reference_id, memo, created_at)
     select * from (
       select :co, beneficiary, 'commission', commission, 'USD', 0, null, 'commission', id::text, null, created_at from stage
       union all
       select :co, beneficiary, 'reversal', -commission, 'USD', 0, null, 'commission', id::text, 'refund',
         least(now(), created_at + interval '3 days') from stage where status = 'reversed'
       union all
       select :co, beneficiary, 'cancellation', -commission, 'USD', 0, null, 'commission', id::text, 'Self-referral',
         least(now(), created_at + interval '2 days') from stage where status = 'cancelled'
       union all
       select :co, beneficiary_user_id, 'clawback', amount_cents, 'USD', 0, null, 'commission', reverses_commission_id::text, 'refund',
         created_at from public.commissions where company_id = :co and kind = 'clawback'
       union all
       select :co, user_id, 'payout', -amount_cents, 'USD', 0, null, 'payout', id::text, whop_transfer_id, completed_at
       from public.payouts where company_id = :co and status = 'completed'
       union all
       select :co, payer, 'points', 0, null, 100, 'REFERRAL_WELCOME', 'payment', 'pay_' || :p || seq, null, created_at from stage where k = 0
       union all
       select :co, beneficiary, 'points', 0, null, case when k = 0 then 500 else 100 end,
         case when k = 0 then 'REFERRAL_FIRST_PAYMENT' else 'REFERRAL_RECURRING' end, 'payment', 'pay_' || :p || seq, null, created_at
       from stage) x
     order by created_at`,
  );
  await run(
    "redemptions (+ ledger)",
    `with who as materialized (
       select user_id, max(created_at) as last from public.transactions
       where company_id = :co and kind = 'points' and abs(hashtext(user_id)) % 50 = 0
       group by user_id having sum(points) >= 500),
     r as (
       insert into public.redemptions (company_id, user_id, item_id, cost_points, status, result, created_at, updated_at)
       select :co, who.user_id, i.id, 500, 'granted', '{"note": "done"}', least(now(), last + interval '1 day'), least(now(), last + interval '1 day')
       from who, public.points_items i where i.company_id = :co and i.cost_points = 500
       returning id, user_id, created_at)
     insert into public.transactions (company_id, user_id, kind, points, points_type, reference_type, reference_id, memo, created_at)
     select :co, user_id, 'points', -500, 'REDEMPTION_CUSTOM', 'redemption', id::text, 'Shout-out', created_at from r`,
  );
  await run(
    "points_balances",
    `insert into public.points_balances (company_id, user_id, balance, total_earned, total_spent, updated_at)
     select :co, user_id, sum(points), sum(greatest(points, 0)), sum(least(points, 0)), max(created_at)
     from public.transactions where company_id = :co and kind = 'points' group by user_id`,
  );
  await cx.query("drop table pg_temp.stage; set session_replication_role = origin");
  await run("rebuild_analytics", "select public.rebuild_analytics(:co)");
  console.log(`  ${"seeded in".padEnd(44)} ${" ".repeat(14)} ${((performance.now() - t0) / 1000).toFixed(1).padStart(7)} s`);
}

/**
 * Runs `load` with the secondary indexes of `tables` dropped (those that back no constraint),
 * then recreates them from their saved definitions: one sort per index instead of millions of
 * random insertions. (Fresh indexes are a little denser than ones grown row by row.)
 */
async function withoutIndexes(cx: pg.Client, tables: string[], load: () => Promise<void>) {
  const { rows } = await cx.query<{ name: string; def: string }>(
    `select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def from pg_index i
     where i.indrelid = any($1::regclass[]) and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`,
    [tables.map((t) => `public.${t}`)],
  );
  for (const r of rows) await cx.query(`drop index ${r.name}`);
  await load();
  const t = performance.now();
  for (const r of rows) await cx.query(r.def);
  console.log(`  ${`recreate ${rows.length} indexes`.padEnd(44)} ${" ".repeat(14)} ${((performance.now() - t) / 1000).toFixed(1).padStart(7)} s`);
}
const BULK_TABLES = ["users", "referral_codes", "referrals", "referral_clicks", "payments", "payouts", "commissions", "transactions"];

async function vacuumAnalyze(cx: pg.Client) {
  const t = performance.now();
  await cx.query("vacuum (analyze)");
  console.log(`  ${"vacuum (analyze)".padEnd(44)} ${" ".repeat(14)} ${((performance.now() - t) / 1000).toFixed(1).padStart(7)} s`);
}

// ── Measuring ────────────────────────────────────────────────────────────────
interface Stat {
  min: number;
  p50: number;
  p95: number;
  kb: number;
  /** server CPU per call (ms): on-CPU time of the database's backends, when /proc shows them */
  cpu?: number;
}

/**
 * On-CPU nanoseconds of the client backends of database `name` (Linux /proc/<pid>/schedstat,
 * readable when the server runs on this machine). Unlike wall time, it does not grow when other
 * work shares the CPU, so it tells a read's own cost on a busy machine.
 */
async function cpuSampler(name: string) {
  const pids = async () =>
    (
      await admin.query<{ pid: number }>(
        "select pid from pg_stat_activity where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid()",
        [name],
      )
    ).rows.map((r) => r.pid);
  const read = (pid: number) => {
    try {
      return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      return undefined;
    }
  };
  return async (): Promise<Map<number, number> | undefined> => {
    const m = new Map<number, number>();
    for (const pid of await pids()) {
      const ns = read(pid);
      if (ns === undefined) return undefined;
      m.set(pid, ns);
    }
    return m;
  };
}
type Sampler = Awaited<ReturnType<typeof cpuSampler>>;
const cpuMs = (before: Map<number, number> | undefined, after: Map<number, number> | undefined, calls: number) => {
  if (!before || !after) return undefined;
  let ns = 0;
  for (const [pid, v] of after) ns += v - (before.get(pid) ?? 0);
  return ns / 1e6 / calls;
};
type Results = Record<string, Stat>;
type Backend = ReturnType<typeof createPgBackend>;

interface Read {
  label: string;
  /** p95 budget in ms at full size, if any */
  budget?: number;
  /** reads whose median must not grow more than 1.5× from scale 0.1 to 1 ("shown": printed, no budget) */
  growth?: boolean | "shown";
  /** untimed calls first (default WARMUP) */
  warmup?: number;
  call: (i: number) => Promise<unknown>;
}

const stat = (ms: number[], kb: number): Stat => {
  ms.sort((a, b) => a - b);
  return { min: ms[0], p50: ms[Math.floor((ms.length - 1) / 2)], p95: ms[Math.ceil(0.95 * ms.length) - 1], kb };
};
const timed = async (read: Read, i: number, ms: number[]) => {
  const t = performance.now();
  const r = await read.call(i);
  ms.push(performance.now() - t);
  return r;
};
const kbOf = (r: unknown) => JSON.stringify(r).length / 1024;

/** CALLS timed calls of one read after its untimed ones (read.warmup, default WARMUP). */
async function measure(read: Read, cpu: Sampler): Promise<Stat> {
  for (let i = 0; i < (read.warmup ?? WARMUP); i++) await read.call(i);
  const ms: number[] = [];
  let kb = 0;
  const before = await cpu();
  for (let i = 0; i < CALLS; i++) kb = kbOf(await timed(read, i, ms));
  return { ...stat(ms, kb), cpu: cpuMs(before, await cpu(), CALLS) };
}

/** Two reads measured call by call in alternation, so a busy machine slows both alike. */
async function measurePair(a: Read, b: Read, cpuA: Sampler, cpuB: Sampler): Promise<[Stat, Stat]> {
  for (let i = 0; i < WARMUP; i++) {
    await a.call(i);
    await b.call(i);
  }
  const ma: number[] = [];
  const mb: number[] = [];
  let ka = 0;
  let kb = 0;
  const [beforeA, beforeB] = [await cpuA(), await cpuB()];
  for (let i = 0; i < CALLS; i++) {
    ka = kbOf(await timed(a, i, ma));
    kb = kbOf(await timed(b, i, mb));
  }
  return [
    { ...stat(ma, ka), cpu: cpuMs(beforeA, await cpuA(), CALLS) },
    { ...stat(mb, kb), cpu: cpuMs(beforeB, await cpuB(), CALLS) },
  ];
}

const localDay = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10); // programs are UTC

/** Every read the pages make, for one company (lists: first page and the page after 20 `next`s). */
async function readsOf(c: Company, b: Backend): Promise<Read[]> {
  const rpc = (name: string, args: Record<string, unknown>) => b.rpc(name, { p_company_id: c.id, ...args });
  // typical members: 30 spread over ranks 10 %…100 % of the tail (a few referrals each)
  const typical = Array.from({ length: 30 }, (_, k) => 1 + Math.round(c.members * (0.1 + (0.9 * k) / 30)));
  const who = (i: number) => ({ p_user_id: `user_${c.p}m${i}`, p_username: `${c.p}member${i}`, p_name: `Member ${i}` });
  const top = who(1);
  const reads: Read[] = [
    { label: "member view — typical", budget: BUDGET.home, growth: true, call: (i) => rpc("get_member_view", who(typical[i % 30])) },
    { label: "member view — top referrer", budget: BUDGET.home, growth: true, call: () => rpc("get_member_view", top) },
    { label: "member wallet — typical", budget: BUDGET.home, growth: true, call: (i) => rpc("get_member_wallet", { p_user_id: who(typical[i % 30]).p_user_id }) },
    { label: "member wallet — top referrer", budget: BUDGET.home, growth: true, call: () => rpc("get_member_wallet", { p_user_id: top.p_user_id }) },
    { label: "overview 30 days", growth: true, call: () => rpc("get_overview", { p_from: localDay(-29), p_to: localDay(0) }) },
    { label: "overview 90 days", budget: BUDGET.overview90, growth: true, call: () => rpc("get_overview", { p_from: localDay(-89), p_to: localDay(0) }) },
    { label: "overview 12 months", growth: true, call: () => rpc("get_overview", { p_from: localDay(-364), p_to: localDay(0) }) },
    { label: "member detail — top referrer", budget: BUDGET.list, call: () => rpc("get_member_detail", { p_user_id: top.p_user_id }) },
    { label: "member detail — typical", budget: BUDGET.list, call: (i) => rpc("get_member_detail", { p_user_id: who(typical[i % 30]).p_user_id }) },
    {
      label: "list_members q=<username prefix>",
      budget: BUDGET.list,
      growth: true,
      call: (i) => rpc("list_members", { p_filter: { q: `${c.p}member${typical[i % 30]}`.slice(0, 9) } }),
    },
  ];
  const lists: [string, string, Record<string, unknown>][] = [
    ["list_members", "", {}],
    ["list_members", "sort=revenue", { sort: "revenue" }],
    ["list_referrals", "", {}],
    ["list_referrals", "status=converted", { status: "converted" }],
    ["list_referrals", "member=top", { member: top.p_user_id }],
    ["list_commissions", "", {}],
    ["list_commissions", "status=paid", { status: "paid" }],
    ["list_commissions", "member=top", { member: top.p_user_id }],
    ["list_commissions", "last 30 days", { from: localDay(-29), to: localDay(0) }],
    ["list_commissions", "sort=amount", { sort: "amount" }],
    ["list_payouts", "", {}],
  ];
  for (const [name, what, filter] of lists) {
    const label = `${name}${what ? ` ${what}` : ""}`;
    reads.push({ label: `${label} — page 1`, budget: BUDGET.list, growth: true, call: () => rpc(name, { p_filter: filter }) });
    // follow next up to 20 times; the deep read is the page reached
    let after: string | undefined;
    let page = 1;
    while (page <= DEEP_PAGES) {
      const r = (await rpc(name, { p_filter: { ...filter, after } })) as { next: string | null };
      if (!r.next) break;
      after = r.next;
      page++;
    }
    if (page > 1) {
      reads.push({
        label: `${label} — page ${page}`,
        budget: BUDGET.list,
        growth: page === DEEP_PAGES + 1,
        call: () => rpc(name, { p_filter: { ...filter, after } }),
      });
    }
  }
  // A read that varies the member is timed twice: on each member's first read since the server
  // started (its pages come from the OS cache or the disk: at full size most of them are outside
  // shared_buffers, at a tenth many are still there from seeding, so these rows are shown, not
  // held to the growth budget), then again over the same members once read (the rows the growth
  // budget compares: the same cache state at both sizes).
  return reads.flatMap((r) =>
    r.call.length === 0 // `(i) => …`: the call's index picks the member
      ? [r]
      : [{ ...r, label: `${r.label} (first read)`, warmup: 0, growth: r.growth && "shown" }, { ...r, warmup: CALLS }],
  );
}

async function measureCompany(c: Company, b: Backend, cpu: Sampler): Promise<{ reads: Read[]; results: Results }> {
  const reads = await readsOf(c, b);
  const results: Results = {};
  for (const r of reads) results[r.label] = await measure(r, cpu);
  return { reads, results };
}

// ── Printing ─────────────────────────────────────────────────────────────────
const f = (ms: number | undefined) => (ms === undefined ? "—" : ms.toFixed(2)).padStart(8);
const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
let misses = 0;

function printTable(title: string, reads: Read[], results: Results, withBudgets: boolean) {
  console.log(
    `\n${title}\n${"read".padEnd(48)} ${"min ms".padStart(8)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)} ${"cpu ms".padStart(8)} ${"KB".padStart(7)}  budget`,
  );
  for (const r of reads) {
    const s = results[r.label];
    let budget = "";
    if (withBudgets && r.budget !== undefined) {
      const ok = s.p95 <= r.budget;
      if (!ok) misses++;
      budget = `p95 ≤ ${r.budget} ms  ${verdict(ok)}`;
    }
    console.log(`${r.label.padEnd(48)} ${f(s.min)} ${f(s.p50)} ${f(s.p95)} ${f(s.cpu)} ${s.kb.toFixed(1).padStart(7)}  ${budget}`);
  }
}

function printSmall(reads: Read[], base: Results, next: Results) {
  console.log(
    `\n${SMALL.id} next to ${BIG.id} (on the pool that just served ${BIG.id}) vs. alone in an otherwise empty database,\n` +
      `measured in alternation (budget: median ≤ ${BUDGET.smallRatio}× alone)\n` +
      `${"read".padEnd(48)} ${"alone p50".padStart(9)} ${"p95".padStart(8)} ${"next p50".padStart(9)} ${"p95".padStart(8)} ${"ratio".padStart(6)}        ` +
      `${"alone cpu".padStart(9)} ${"next cpu".padStart(8)} ${"ratio".padStart(6)}`,
  );
  for (const r of reads) {
    const a = base[r.label];
    const n = next[r.label];
    if (!a || !n) continue;
    const ratio = n.p50 / a.p50;
    const ok = ratio <= BUDGET.smallRatio;
    if (!ok) misses++;
    const cpuRatio = a.cpu && n.cpu ? (n.cpu / a.cpu).toFixed(2) : "—";
    console.log(
      `${r.label.padEnd(48)} ${f(a.p50)} ${f(a.p95)}  ${f(n.p50)} ${f(n.p95)} ${ratio.toFixed(2).padStart(6)}  ${verdict(ok)}  ${f(a.cpu)} ${f(n.cpu)} ${cpuRatio.padStart(6)}`,
    );
  }
}

function printGrowth(reads: Read[], tenth: Results, full: Results) {
  console.log(
    `\n${BIG.id} from scale 0.1 to 1 (budget: median grows ≤ ${BUDGET.growth}×)\n` +
      `${"read".padEnd(48)} ${"0.1 p50".padStart(8)} ${"1 p50".padStart(8)} ${"growth".padStart(7)}        ${"0.1 cpu".padStart(8)} ${"1 cpu".padStart(8)} ${"growth".padStart(7)}`,
  );
  for (const r of reads) {
    if (!r.growth) continue;
    // deep pages are labelled by the page reached, the same at both scales when both reach 21
    const a = tenth[r.label];
    const n = full[r.label];
    if (!a || !n) {
      console.log(`${r.label.padEnd(48)} (not measured at scale 0.1)`);
      continue;
    }
    const g = n.p50 / a.p50;
    const ok = g <= BUDGET.growth;
    if (!ok && r.growth === true) misses++;
    console.log(
      `${r.label.padEnd(48)} ${f(a.p50)} ${f(n.p50)} ${g.toFixed(2).padStart(7)}  ${r.growth === true ? verdict(ok) : "    "}  ${f(a.cpu)} ${f(n.cpu)} ${(a.cpu && n.cpu ? (n.cpu / a.cpu).toFixed(2) : "—").padStart(7)}`,
    );
  }
}

// ── Run ──────────────────────────────────────────────────────────────────────
const resultsFile = (scale: number) => path.join(tmpdir(), `referly-bench-reads-${scale}.json`);
const load = () => `load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`;
try {
  if (seeded) {
    console.log(`\nalready seeded: measuring only`);
  } else {
    console.log(`\n${SMALL.id} alone (${new URL(aloneUrl).pathname.slice(1)}):`);
    await withoutIndexes(aloneAdmin, BULK_TABLES, () => seed(aloneAdmin, SMALL));
    await vacuumAnalyze(aloneAdmin);
    console.log(`\n${SMALL.id} and ${BIG.id} (${new URL(url).pathname.slice(1)}):`);
    await withoutIndexes(admin, BULK_TABLES, () => seed(admin, SMALL));
    await withoutIndexes(admin, BULK_TABLES, () => seed(admin, BIG));
    if (db) {
      await admin.query("alter system reset autovacuum");
      await admin.query("select pg_reload_conf()");
    }
    await vacuumAnalyze(admin);
  }
  const sizes = await admin.query(
    `select relname, n_live_tup::bigint as rows, pg_size_pretty(pg_total_relation_size(relid)) as size
     from pg_stat_user_tables where schemaname = 'public' and n_live_tup > 0 order by pg_total_relation_size(relid) desc`,
  );
  console.log(`\nTables: ${sizes.rows.map((r) => `${r.relname} ${r.rows} (${r.size})`).join(", ")}`);
  const shape = await admin.query(
    `select (select count(*) from public.referrals where company_id = $1 and referrer_user_id = $2) as top_referrals,
       (select count(*) from public.commissions where company_id = $1 and beneficiary_user_id = $2) as top_commissions,
       (select count(*) from public.referral_stats where company_id = $1) as members_listed,
       (select count(*) from public.payouts where company_id = $1) as payouts`,
    [BIG.id, `user_${BIG.p}m1`],
  );
  console.log(`${BIG.id}: ${JSON.stringify(shape.rows[0])}`);

  const b = createPgBackend(url, 10);
  const alone = createPgBackend(aloneUrl, 10);
  const [cpuMain, cpuAlone] = [await cpuSampler(new URL(url).pathname.slice(1)), await cpuSampler(new URL(aloneUrl).pathname.slice(1))];
  const loadBefore = load();
  const big = await measureCompany(BIG, b, cpuMain);
  const loadBig = load();
  // biz_small on the pool that just served biz_big, and alone, call by call
  const nextReads = await readsOf(SMALL, b);
  const aloneReads = await readsOf(SMALL, alone);
  const smallNext: Results = {};
  const smallAlone: Results = {};
  for (let i = 0; i < nextReads.length; i++) {
    [smallNext[nextReads[i].label], smallAlone[aloneReads[i].label]] = await measurePair(nextReads[i], aloneReads[i], cpuMain, cpuAlone);
  }
  const loadSmall = load();
  await b.close();
  await alone.close();

  printTable(
    `${BIG.id} at scale ${SCALE}${SCALE === 1 ? "" : " (budgets apply at scale 1; shown for reference)"} — ${loadBefore} before, ${loadBig} after`,
    big.reads,
    big.results,
    true,
  );
  printTable(`${SMALL.id} alone (baseline)`, aloneReads, smallAlone, false);
  printSmall(aloneReads, smallAlone, smallNext);
  console.log(`(${loadSmall} after)`);

  writeFileSync(resultsFile(SCALE), JSON.stringify({ scale: SCALE, big: big.results, smallAlone, smallNext }, null, 1));
  const other = SCALE === 1 ? 0.1 : 1;
  if (existsSync(resultsFile(other))) {
    const o = JSON.parse(readFileSync(resultsFile(other), "utf8")) as { big: Results };
    if (SCALE === 1) printGrowth(big.reads, o.big, big.results);
    else printGrowth(big.reads, big.results, o.big);
  } else {
    console.log(`\n(run with --scale ${other} too for the growth check; results saved in ${resultsFile(SCALE)})`);
  }
  console.log(`\n${misses === 0 ? "All budgets met." : `${misses} budget miss(es).`}${SCALE === 1 ? "" : " (budgets are for scale 1)"}`);
} finally {
  await admin.end();
  await aloneAdmin.end();
  await db?.stop();
  if ((KEEP || REUSE) && dataDir) {
    console.log(`kept the database folder ${dataDir} (measure again: npx tsx bench/reads.ts --scale ${SCALE} --dir ${dataDir})`);
  }
}
