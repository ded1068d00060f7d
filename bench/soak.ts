/**
 * Soak (a benchmark that prints figures, not a test): Whop's webhooks at volume, over HTTP,
 * against the built app (`next start` through lib/launch.ts, as `npm start` runs it) with a
 * real Postgres it can lose in the middle. Needs a current `next build`.
 *
 * Starts an embedded Postgres (its own folder and port, kept across a stop), a local Whop
 * stand-in, and the app with credentials-like settings (API key, webhook secret, user-token
 * key, hash secret, cron secret; the SDK pointed at the stand-in). One company: referrer R1,
 * and R2…R20 who joined through R1 (MLM on, two levels: 20 % and 5 %).
 *
 * Wave 1, N signed deliveries (default 10 000): first payments of new buyers through a
 * referrer's code, then their renewals (attributed by the referral the first payment made),
 * refunds (partial and full) and disputes; ~30 % of the deliveries are duplicates (the same
 * event id and body, half of them at the same moment as the original, half later); the
 * number of deliveries in flight changes every few hundred, at random from 1 to 32. Then:
 *  - no 5xx, every answer 200;
 *  - each event id once in webhook_events; commissions = one per attributed payment and level
 *    (level 2 when the buyer's referrer has a referrer), none twice;
 *  - the ledger reconciles to 0 cents: per member, Σ ledger rows commission, reversal,
 *    clawback, cancellation, payout = Σ (amount − reversed) of their unpaid commissions =
 *    pending + available + on hold + in payout of member_money; per commission, its ledger
 *    rows = its net amount; per payment, refunded = what was refunded; check_analytics ok.
 * Wave 2, M deliveries (default 2 000): new buyers' first payments and renewals of wave-1
 * buyers, duplicates as before. After a third of it the database is stopped (db.stop()),
 * deliveries go on and fail (5xx, counted), the database is started again on the same
 * folder and port, the wave finishes, and every event that got a 5xx is redelivered (as
 * Whop retries, freshly signed) until answered 200. Then each event must have been applied
 * exactly once (a 5xx whose transaction had committed comes back as a duplicate) and the
 * same checks hold.
 * Prints deliveries, duplicates, events/s, p50/p95/p99 latency, 5xx while up (must be 0),
 * 5xx while down, the redelivery outcomes and the reconciliation. Exit status 1 when a check
 * fails.
 *
 *   npx next build && npx tsx bench/soak.ts [N=10000] [M=2000] [SEED=1]
 */
import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import fs from "node:fs/promises";
import os, { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort, startEmbedded, type EmbeddedDb } from "../lib/db/embedded";
import { launch } from "../lib/launch";
import { generateUserTokenKeys, paymentSucceededEvent } from "../lib/demo";
import { startWhopSandbox } from "../lib/demo/sandbox";

const N = Number(process.argv[2] ?? 10_000);
const M = Number(process.argv[3] ?? 2_000);
const SEED = Number(process.argv[4] ?? 1);
const DUPLICATE_SHARE = 0.3;
/** How long the database stays down in wave 2, and how many deliveries are tried meanwhile. */
const DOWN_MS = 3_000;
const DOWN_DELIVERIES = Math.round(M * 0.15);

const WEBHOOK_SECRET = "ws_soak_5c4b3a29180f7e6d5c4b3a2918";
const COMPANY = "biz_soak";
const REFERRERS = Array.from({ length: 20 }, (_, i) => `user_soakref${i + 1}`);

// ── a seeded random source, so runs are comparable ──────────────────────────

let state = SEED >>> 0 || 1;
function random(): number {
  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];

// ── the world ───────────────────────────────────────────────────────────────

const dbDir = mkdtempSync(path.join(tmpdir(), "referly-soak-pg-"));
const dbPort = await freePort();
let db: EmbeddedDb = await startEmbedded({ dir: dbDir, port: dbPort, persistent: true });
await db.createDatabase("referly");
const dbUrl = db.url("referly");
const sandbox = await startWhopSandbox();
const keys = await generateUserTokenKeys();
const appPort = await freePort();

// the environment minus anything that would change which backend or mode the app picks
const env: NodeJS.ProcessEnv = { ...process.env };
for (const k of Object.keys(env)) {
  if (/^(WHOP_|NEXT_PUBLIC_WHOP|SUPABASE_|DATABASE_URL|APP_URL|CRON_SECRET|DEMO_|REFERLY_)/.test(k)) delete env[k];
}
const app = await launch({
  mode: "start",
  port: appPort,
  quiet: true,
  env: {
    ...env,
    DATABASE_URL: dbUrl,
    APP_URL: `http://localhost:${appPort}`,
    NEXT_PUBLIC_WHOP_APP_ID: "app_referlysoak",
    WHOP_API_KEY: "test_api_key",
    WHOP_WEBHOOK_SECRET: WEBHOOK_SECRET,
    WHOP_BASE_URL: sandbox.apiUrl,
    WHOP_USER_TOKEN_PUBLIC_KEY: keys.publicJwk,
    REFERLY_HASH_SECRET: "hs_soak_8f7e6d5c4b3a29180f7e6d5c4b3a2918",
    CRON_SECRET: "cron_soak_secret",
  },
});

let sql = new pg.Pool({ connectionString: dbUrl, max: 4 });
sql.on("error", () => {});
await sql.query(`select public.update_program_settings($1, $2::jsonb)`, [
  COMPANY,
  JSON.stringify({ mlm_enabled: true, max_level: 2, commission_rate_bp: 2000, upper_level_rates_bp: [500, 0, 0, 0], hold_days: 14 }),
]);
const codes = new Map<string, string>();
for (const [i, u] of REFERRERS.entries()) {
  const r = await sql.query(`select public.get_or_create_code($1, $2, $3, null)->>'code' as code`, [COMPANY, u, `soakref${i + 1}`]);
  codes.set(u, r.rows[0].code);
  if (i > 0) await sql.query(`select public.claim_referral($1, $2, $3, $4)`, [COMPANY, u, codes.get(REFERRERS[0]), `soakref${i + 1}`]);
}
/** Levels of commission a payment referred by `u` earns: R1 has nobody above, the others have R1. */
const levelsOf = (u: string) => (u === REFERRERS[0] ? 1 : 2);

// ── events ──────────────────────────────────────────────────────────────────

interface Ev {
  id: string;
  body: string;
  kind: "first" | "renewal" | "refund" | "dispute";
  /** the payment's id and cents (payments), or the refunded payment and cents (refunds) */
  paymentId: string;
  cents: number;
  /** for payments: how many commissions it must make */
  levels: number;
}
interface Buyer {
  id: string;
  referrer: string;
  membership: string;
}

let seq = 0;
const nextId = (p: string) => `${p}${SEED}x${(++seq).toString(36)}`;

function payment(buyer: Buyer, kind: "first" | "renewal"): Ev {
  const cents = int(500, 20_000);
  const e = paymentSucceededEvent({
    eventId: nextId("evt_"),
    paymentId: nextId("pay_"),
    membershipId: buyer.membership,
    companyId: COMPANY,
    user: { id: buyer.id, username: buyer.id.slice(5), name: null },
    planId: "plan_soak",
    total: cents / 100,
    metadata: kind === "first" ? { referral_code: codes.get(buyer.referrer) } : null,
    billingReason: kind === "first" ? "subscription_create" : "subscription_cycle",
  });
  return { id: e.id, body: JSON.stringify(e), kind, paymentId: e.data.id, cents, levels: levelsOf(buyer.referrer) };
}

function refund(p: Ev, dispute: boolean): Ev {
  const cents = random() < 0.5 ? p.cents : int(1, p.cents - 1);
  const id = nextId(dispute ? "dspt_" : "rfnd_");
  const at = new Date().toISOString();
  const data = dispute
    ? { id, amount: cents / 100, currency: "usd", status: "needs_response", reason: "fraudulent", created_at: at, payment: { id: p.paymentId }, company: { id: COMPANY } }
    : { id, amount: cents / 100, currency: "usd", status: "succeeded", created_at: at, provider: "stripe", payment: { id: p.paymentId } };
  const e = { id: nextId("evt_"), api_version: "v1", type: dispute ? "dispute.created" : "refund.created", timestamp: at, company_id: COMPANY, data };
  return { id: e.id, body: JSON.stringify(e), kind: dispute ? "dispute" : "refund", paymentId: p.paymentId, cents, levels: 0 };
}

/**
 * The delivery plan of a phase: every event once, plus duplicates making `share` of all
 * deliveries; a duplicate goes with its original (both at once) or later in the phase.
 * Each item is one event sent `copies` times at once.
 */
function plan(events: Ev[], share: number): { ev: Ev; copies: number }[] {
  const items = events.map((ev) => ({ ev, copies: 1 }));
  const duplicates = Math.round((events.length * share) / (1 - share));
  for (let i = 0; i < duplicates; i++) {
    const at = int(0, items.length - 1);
    if (random() < 0.5) items[at].copies++;
    else items.splice(int(at + 1, items.length), 0, { ev: items[at].ev, copies: 1 });
  }
  return items;
}

// ── delivery ────────────────────────────────────────────────────────────────

interface Result {
  status: number; // 0: no answer (connection refused or reset)
  ms: number;
  duplicate?: boolean;
  down: boolean;
}

let dbDown = false;
const url = `${app.url}/api/webhooks/whop`;

async function send(ev: Ev): Promise<Result> {
  const ts = Math.floor(Date.now() / 1000);
  const sig = createHmac("sha256", Buffer.from(WEBHOOK_SECRET, "utf8")).update(`${ev.id}.${ts}.${ev.body}`).digest("base64");
  const down = dbDown;
  const t = performance.now();
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "webhook-id": ev.id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${sig}` },
      body: ev.body,
    });
    const json = (await res.json().catch(() => null)) as { duplicate?: boolean } | null;
    return { status: res.status, ms: performance.now() - t, duplicate: json?.duplicate, down: down || dbDown };
  } catch {
    return { status: 0, ms: performance.now() - t, down: down || dbDown };
  }
}

interface Stats {
  results: Result[];
  /** events with an answer other than 200 to some delivery */
  failed: Set<Ev>;
  /** ids of events with a 200 to some delivery */
  answered: Set<string>;
  seconds: number;
  deliveries: number;
  duplicates: number;
  concurrentDuplicates: number;
  concurrency: number[];
}

/**
 * Deliver a plan: chunks of 50–400 items, each chunk with a random number (1–32) of
 * deliveries in flight. `hook` runs before each item (wave 2 stops and restarts the
 * database from there) and may hold the item back.
 */
async function deliver(items: { ev: Ev; copies: number }[], hook?: (done: number) => Promise<void>): Promise<Stats> {
  const stats: Stats = { results: [], failed: new Set(), answered: new Set(), seconds: 0, deliveries: 0, duplicates: 0, concurrentDuplicates: 0, concurrency: [] };
  const seen = new Set<string>();
  const t0 = performance.now();
  let next = 0;
  let done = 0;
  while (next < items.length) {
    const chunk = items.slice(next, next + int(50, 400));
    next += chunk.length;
    const c = int(1, 32);
    stats.concurrency.push(c);
    let i = 0;
    await Promise.all(
      Array.from({ length: Math.min(c, chunk.length) }, async () => {
        while (i < chunk.length) {
          const item = chunk[i++];
          await hook?.(done);
          const rs = await Promise.all(Array.from({ length: item.copies }, () => send(item.ev)));
          done += item.copies;
          stats.deliveries += item.copies;
          const dups = (seen.has(item.ev.id) ? 1 : 0) + item.copies - 1;
          stats.duplicates += dups;
          if (item.copies > 1) stats.concurrentDuplicates += item.copies - 1;
          seen.add(item.ev.id);
          for (const r of rs) {
            stats.results.push(r);
            if (r.status !== 200) stats.failed.add(item.ev);
            else stats.answered.add(item.ev.id);
          }
        }
      }),
    );
  }
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

function report(label: string, s: Stats) {
  const lat = s.results.filter((r) => r.status === 200).map((r) => r.ms);
  const statuses = new Map<number, number>();
  for (const r of s.results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  console.log(`\n${label}`);
  console.log(
    `  deliveries ${s.deliveries} (${s.deliveries - s.duplicates} events, ${s.duplicates} duplicates = ${((100 * s.duplicates) / s.deliveries).toFixed(1)} %, ${s.concurrentDuplicates} of them sent at the same moment as another copy)`,
  );
  console.log(`  ${(s.deliveries / s.seconds).toFixed(0)} deliveries/s, ${((s.deliveries - s.duplicates) / s.seconds).toFixed(0)} events/s over ${s.seconds.toFixed(1)} s; in flight 1–32, changed ${s.concurrency.length} times (mean ${(s.concurrency.reduce((a, b) => a + b, 0) / s.concurrency.length).toFixed(1)})`);
  console.log(`  latency of 200s: p50 ${ms(pct(lat, 50))}  p95 ${ms(pct(lat, 95))}  p99 ${ms(pct(lat, 99))}  max ${ms(pct(lat, 100))}`);
  console.log(`  answers: ${[...statuses].map(([k, v]) => `${k === 0 ? "no answer" : k} ×${v}`).join(", ")}`);
}

// ── checks ──────────────────────────────────────────────────────────────────

const problems: string[] = [];
function expectEq(what: string, got: unknown, want: unknown) {
  const ok = JSON.stringify(got) === JSON.stringify(want);
  console.log(`  ${ok ? "ok  " : "FAIL"} ${what}: ${JSON.stringify(got)}${ok ? "" : ` (want ${JSON.stringify(want)})`}`);
  if (!ok) problems.push(`${what}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function check(label: string, events: Ev[]) {
  console.log(`\n${label}`);
  const one = async (text: string, params: unknown[] = []) => (await sql.query(text, params)).rows[0];
  const ids = events.map((e) => e.id);
  const payments = events.filter((e) => e.kind === "first" || e.kind === "renewal");
  const refunded = new Map<string, number>();
  for (const e of events) if (e.kind === "refund" || e.kind === "dispute") refunded.set(e.paymentId, (refunded.get(e.paymentId) ?? 0) + e.cents);

  const ev = await one(
    `select count(*)::int as rows, count(distinct event_id)::int as ids,
            count(*) filter (where not exists (select 1 from unnest($1::text[]) u(id) where u.id = w.event_id))::int as unknown
     from public.webhook_events w`,
    [ids],
  );
  expectEq("webhook_events: one row per event id sent, nothing else", ev, { rows: ids.length, ids: ids.length, unknown: 0 });
  const pay = await one(
    `select count(*)::int as payments, count(*) filter (where referral_id is not null)::int as attributed,
            (select count(*)::int from public.transactions where company_id = $1 and kind = 'payment') as ledger_rows
     from public.payments where company_id = $1`,
    [COMPANY],
  );
  expectEq("payments recorded / attributed / 'payment' ledger rows", pay, { payments: payments.length, attributed: payments.length, ledger_rows: payments.length });
  const com = await one(
    `select count(*)::int as commissions,
            (select count(*)::int from (select 1 from public.commissions where company_id = $1 and kind = 'commission'
               group by payment_id, beneficiary_user_id, level having count(*) > 1) d) as twice
     from public.commissions where company_id = $1 and kind = 'commission'`,
    [COMPANY],
  );
  expectEq("commissions (one per attributed payment and level) / any twice", com, {
    commissions: payments.reduce((n, p) => n + p.levels, 0),
    twice: 0,
  });
  const wrongLevels = await one(
    `select count(*)::int as n from (
       select p.payment_id, count(c.id) as n, r.referrer_user_id
       from public.payments p join public.referrals r on r.id = p.referral_id
       left join public.commissions c on c.company_id = p.company_id and c.payment_id = p.payment_id and c.kind = 'commission'
       where p.company_id = $1 group by 1, 3) x
     where x.n <> case when x.referrer_user_id = $2 then 1 else 2 end`,
    [COMPANY, REFERRERS[0]],
  );
  expectEq("payments whose commissions are not exactly their levels", wrongLevels.n, 0);
  const refunds = await sql.query<{ payment_id: string; refunded: string }>(
    `select payment_id, refunded_cents::text as refunded from public.payments where company_id = $1 and refunded_cents > 0`,
    [COMPANY],
  );
  const refundDiff = refunds.rows.filter((r) => Number(r.refunded) !== Math.min(refunded.get(r.payment_id) ?? 0, payments.find((p) => p.paymentId === r.payment_id)!.cents));
  expectEq("payments refunded as sent (count, mismatches)", [refunds.rows.length, refundDiff.length], [refunded.size, 0]);

  const money = await sql.query<{ user_id: string; ledger: string; owed: string; rollup: string }>(
    `with l as (select user_id, sum(amount_cents) as s from public.transactions
                where company_id = $1 and kind in ('commission', 'reversal', 'clawback', 'cancellation', 'payout') group by 1),
          o as (select beneficiary_user_id as user_id, sum(amount_cents - reversed_cents) as s from public.commissions
                where company_id = $1 and status in ('pending', 'available', 'on_hold') group by 1),
          m as (select user_id, sum(pending_cents + available_cents + on_hold_cents + in_payout_cents) as s
                from public.member_money where company_id = $1 group by 1)
     select user_id, coalesce(l.s, 0)::text as ledger, coalesce(o.s, 0)::text as owed, coalesce(m.s, 0)::text as rollup
     from l full join o using (user_id) full join m using (user_id)`,
    [COMPANY],
  );
  let off = 0n;
  let total = 0n;
  for (const r of money.rows) {
    off += abs(BigInt(r.ledger) - BigInt(r.owed)) + abs(BigInt(r.rollup) - BigInt(r.owed));
    total += BigInt(r.ledger);
  }
  console.log(`       ${money.rows.length} members owed ${(Number(total) / 100).toFixed(2)} USD in all by the ledger`);
  expectEq("ledger vs commissions vs member_money, cents off (Σ over members)", Number(off), 0);
  const perCommission = await one(
    `select count(*)::int as n from public.commissions c
     left join (select reference_id, sum(amount_cents) as s from public.transactions
                where company_id = $1 and reference_type = 'commission' and kind in ('commission', 'reversal', 'clawback', 'cancellation')
                group by 1) l on l.reference_id = c.id::text
     left join (select reverses_commission_id as id, sum(amount_cents) as s from public.commissions
                where company_id = $1 and kind = 'clawback' group by 1) k on k.id = c.id
     where c.company_id = $1 and c.kind = 'commission'
       and coalesce(l.s, 0) <> case when c.status = 'cancelled' then 0 else c.amount_cents - c.reversed_cents end + coalesce(k.s, 0)`,
    [COMPANY],
  );
  expectEq("commissions whose ledger rows do not sum to their net amount", perCommission.n, 0);
  const points = await one(
    `select count(*)::int as n from (select user_id, balance from public.points_balances where company_id = $1) b
     full join (select user_id, sum(points) as s from public.transactions where company_id = $1 and kind = 'points' group by 1) t
     using (user_id) where coalesce(b.balance, 0) <> coalesce(t.s, 0)`,
    [COMPANY],
  );
  expectEq("points balances that differ from the ledger", points.n, 0);
  const analytics = await one(`select public.check_analytics($1) as v`, [COMPANY]);
  expectEq("check_analytics ok", analytics.v.ok, true);
}
const abs = (x: bigint) => (x < 0n ? -x : x);

// ── wave 1 ──────────────────────────────────────────────────────────────────

const all: Ev[] = [];
let buyerSeq = 0;
const newBuyer = (): Buyer => ({ id: `user_soakbuyer${++buyerSeq}`, referrer: pick(REFERRERS), membership: nextId("mem_") });

let exitCode = 0;
try {
  console.log(`soak: ${N} deliveries, then ${M} with the database stopped for ${DOWN_MS / 1000} s in the middle; seed ${SEED}`);
  console.log(`machine: ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")} (the app, Postgres and this client share them)`);
  const unique1 = Math.round(N * (1 - DUPLICATE_SHARE));
  const firstCount = Math.round(unique1 * 0.36);
  const buyers = Array.from({ length: firstCount }, newBuyer);
  const firsts = buyers.map((b) => payment(b, "first"));
  const refundCount = Math.max(2, Math.round(unique1 * 0.012));
  const disputeCount = Math.max(1, Math.round(unique1 * 0.003));
  const targets = [...firsts].sort(() => random() - 0.5).slice(0, refundCount + disputeCount);
  const laterEvents: Ev[] = [
    ...targets.slice(0, refundCount).map((p) => refund(p, false)),
    ...targets.slice(refundCount).map((p) => refund(p, true)),
  ];
  while (firsts.length + laterEvents.length < unique1) laterEvents.push(payment(pick(buyers), "renewal"));
  laterEvents.sort(() => random() - 0.5);
  // refunds of first payments only come after them; renewals after their buyer's first payment
  const planA = plan(firsts, DUPLICATE_SHARE);
  const planB = plan(laterEvents, DUPLICATE_SHARE);
  const a = await deliver(planA);
  const b = await deliver(planB);
  all.push(...firsts, ...laterEvents);
  const wave1: Stats = {
    results: [...a.results, ...b.results],
    failed: new Set([...a.failed, ...b.failed]),
    answered: new Set([...a.answered, ...b.answered]),
    seconds: a.seconds + b.seconds,
    deliveries: a.deliveries + b.deliveries,
    duplicates: a.duplicates + b.duplicates,
    concurrentDuplicates: a.concurrentDuplicates + b.concurrentDuplicates,
    concurrency: [...a.concurrency, ...b.concurrency],
  };
  report(
    `wave 1: ${firsts.length} first payments, ${laterEvents.filter((e) => e.kind === "renewal").length} renewals, ${refundCount} refunds, ${disputeCount} disputes`,
    wave1,
  );
  const fivexx1 = wave1.results.filter((r) => r.status >= 500 || r.status === 0).length;
  expectEq("5xx or no answer (database up)", fivexx1, 0);
  expectEq("answers other than 200", wave1.results.filter((r) => r.status !== 200).length, 0);
  await check("wave 1 checks", all);

  // ── wave 2: the database goes away in the middle ───────────────────────────
  const unique2 = Math.round(M * (1 - DUPLICATE_SHARE));
  const wave2Events: Ev[] = [];
  for (let i = 0; i < unique2; i++) wave2Events.push(random() < 0.5 ? payment(newBuyer(), "first") : payment(pick(buyers), "renewal"));
  const plan2 = plan(wave2Events, DUPLICATE_SHARE);
  const stopAt = Math.round(M / 3);
  let phase: "before" | "down" | "after" = "before";
  let downAttempts = 0;
  let downSince = 0;
  let downFor = 0;
  let restarting: Promise<void> | null = null;
  const hook = async (done: number) => {
    if (phase === "before" && done >= stopAt) {
      phase = "down";
      dbDown = true;
      downSince = performance.now();
      const stopping = db.stop();
      restarting = (async () => {
        await stopping;
        await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (performance.now() - downSince))));
        db = await startEmbedded({ dir: dbDir, port: dbPort, persistent: true });
        downFor = (performance.now() - downSince) / 1000;
        dbDown = false;
        phase = "after";
      })();
    }
    if (phase === "down" && ++downAttempts > DOWN_DELIVERIES) await restarting;
  };
  const w2 = await deliver(plan2, hook);
  if (restarting) await restarting;
  all.push(...wave2Events);
  report(`wave 2: ${wave2Events.filter((e) => e.kind === "first").length} first payments, ${wave2Events.filter((e) => e.kind === "renewal").length} renewals; database down ${downFor.toFixed(1)} s after ${stopAt} deliveries`, w2);
  const bad = (r: Result) => r.status >= 500 || r.status === 0;
  const whileDown = w2.results.filter((r) => r.down);
  const whileUp = w2.results.filter((r) => !r.down);
  console.log(`  while down: ${whileDown.length} deliveries, ${whileDown.filter(bad).length} 5xx or no answer, ${whileDown.filter((r) => r.status === 200).length} answered 200 (in flight as it stopped)`);
  expectEq("5xx or no answer while the database was up", whileUp.filter(bad).length, 0);
  expectEq("answers other than 200 or 5xx", w2.results.filter((r) => r.status !== 200 && !bad(r)).length, 0);

  // the checks' own pool lost its connections with the database
  await sql.end().catch(() => {});
  sql = new pg.Pool({ connectionString: dbUrl, max: 4 });
  sql.on("error", () => {});

  // ── redelivery of what failed, as Whop retries ─────────────────────────────
  // every event that got a 5xx is sent again; those no delivery had answered 200 tell whether
  // a failed answer had still committed (then the redelivery is a duplicate)
  const failed = [...w2.failed];
  const unanswered = new Set(failed.filter((e) => !w2.answered.has(e.id)).map((e) => e.id));
  const outcomes = { applied: 0, duplicate: 0, unansweredCommitted: 0, attempts: 0 };
  const t0 = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (i < failed.length) {
        const ev = failed[i++];
        for (let attempt = 1; ; attempt++) {
          outcomes.attempts++;
          const r = await send(ev);
          if (r.status === 200) {
            if (!r.duplicate) outcomes.applied++;
            else {
              outcomes.duplicate++;
              if (unanswered.has(ev.id)) outcomes.unansweredCommitted++;
            }
            break;
          }
          if (attempt >= 5) {
            problems.push(`redelivery of ${ev.id} still answered ${r.status} after 5 attempts`);
            break;
          }
          await new Promise((res) => setTimeout(res, 200 * attempt));
        }
      }
    }),
  );
  console.log(
    `\nredelivery of the ${failed.length} events that got a 5xx or no answer (${unanswered.size} of them never answered 200): ` +
      `${outcomes.attempts} attempts in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${outcomes.applied} applied now, ` +
      `${outcomes.duplicate} answered duplicate (${outcomes.duplicate - outcomes.unansweredCommitted} had a 200 from another copy, ` +
      `${outcomes.unansweredCommitted} had committed although their answer was a 5xx)`,
  );
  expectEq("redelivered events applied now + duplicates = events redelivered", outcomes.applied + outcomes.duplicate, failed.length);
  await check("after wave 2 and redelivery: each event applied exactly once", all);
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await app.stop();
  await sandbox.close();
  await sql.end().catch(() => {});
  await db.stop().catch(() => {});
  const real = await fs.realpath(dbDir).catch(() => dbDir);
  await fs.rm(real, { recursive: true, force: true });
  await fs.rm(dbDir, { recursive: true, force: true });
}
console.log(`\nload average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
if (problems.length) {
  console.log(`\n${problems.length} check(s) failed:\n  ${problems.join("\n  ")}`);
  exitCode = 1;
} else if (!exitCode) console.log("\nall checks passed");
process.exit(exitCode);
