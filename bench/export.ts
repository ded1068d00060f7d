/**
 * Benchmark (not a test): the streamed CSV export (lib/export) of a company's
 * commissions at 10 000 and 100 000 rows. Starts an embedded Postgres, migrates, seeds
 * each size set-based for one member of its own company (users, code, referrals,
 * payments, commissions — inserted with session_replication_role = replica so the
 * per-row analytics triggers stay out of the load, then rebuild_analytics repairs the
 * rollups), and pipes exportCsv into a counting sink that reads as fast as it can.
 * Prints rows/s, total time and the peak RSS and heap (process.memoryUsage sampled every
 * 5 ms) above the level before the run: memory should stay flat as rows grow.
 *
 *   npx tsx --expose-gc bench/export.ts [sizes=10000,100000]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbedded } from "../lib/db/embedded";
import { migrate } from "../lib/db/migrate";

const SIZES = (process.argv[2] ?? "10000,100000").split(",").map(Number);

const db = await startEmbedded({ dir: mkdtempSync(path.join(tmpdir(), "referly-bench-")), persistent: false });
await db.createDatabase("bench");
await migrate(db.url("bench"));
// the app's rpc reads DATABASE_URL on first use
process.env.DATABASE_URL = db.url("bench");
const { exportCsv } = await import("../lib/export");
const { getBackend } = await import("../lib/db");

const client = new pg.Client({ connectionString: db.url("bench") });
await client.connect();

/** One member of `company` with `n` converted referrals, each with a payment and a level-1 commission. */
async function seed(company: string, n: number) {
  const t0 = performance.now();
  const member = `user_${company.slice(4)}ref`;
  await client.query("begin");
  await client.query("set local session_replication_role = replica");
  await client.query(`select public.ensure_program($1)`, [company]);
  await client.query(`insert into public.users (company_id, user_id, username) values ($1, $2, 'bench_referrer')`, [company, member]);
  await client.query(
    `insert into public.users (company_id, user_id, username)
     select $1, 'user_' || $2 || 'b' || i, 'buyer' || i from generate_series(1, $3) i`,
    [company, company.slice(4), n],
  );
  await client.query(`insert into public.referral_codes (company_id, user_id, code) values ($1, $2, upper($3))`, [
    company,
    member,
    company.slice(4),
  ]);
  await client.query(
    `insert into public.referrals (id, company_id, referrer_user_id, referee_user_id, code_id, source, status,
       signed_up_at, converted_at, expires_at, created_at)
     select gen_random_uuid(), $1, $2, 'user_' || $3 || 'b' || i, c.id, 'link', 'converted',
       now() - make_interval(mins => i), now() - make_interval(mins => i), now() + interval '90 days', now() - make_interval(mins => i)
     from generate_series(1, $4) i, public.referral_codes c where c.company_id = $1 and c.user_id = $2`,
    [company, member, company.slice(4), n],
  );
  await client.query(
    `insert into public.payments (company_id, payment_id, user_id, referral_id, amount_cents, currency, created_at)
     select $1, 'pay_' || r.referee_user_id, r.referee_user_id, r.id, 4999, 'USD', r.converted_at
     from public.referrals r where r.company_id = $1`,
    [company],
  );
  await client.query(
    `insert into public.commissions (company_id, referral_id, payment_id, beneficiary_user_id, level, kind,
       base_amount_cents, rate_bp, amount_cents, currency, status, available_at, created_at, paid_at)
     select $1, p.referral_id, p.payment_id, $2, 1, 'commission', p.amount_cents, 2000, 1000, 'USD',
       s.status, p.created_at + interval '14 days', p.created_at, case when s.status = 'paid' then p.created_at + interval '15 days' end
     from public.payments p, lateral (select (array['pending', 'available', 'paid'])[1 + (hashtext(p.payment_id) & 3) % 3] as status) s
     where p.company_id = $1`,
    [company, member],
  );
  await client.query("set local session_replication_role = origin");
  await client.query(`select public.rebuild_analytics($1)`, [company]);
  await client.query("commit");
  await client.query("analyze");
  return (performance.now() - t0) / 1000;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const gc = (globalThis as { gc?: () => void }).gc;

/** Export the company's commissions into a sink that counts rows and bytes. */
async function run(company: string, expected: number) {
  gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const timer = setInterval(sample, 5);

  const t0 = performance.now();
  const result = await exportCsv(company, "commissions", new URLSearchParams());
  if (!result.ok) throw new Error(result.message);
  const reader = result.stream.getReader();
  let bytes = 0;
  let newlines = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    for (let i = 0; i < value.length; i++) if (value[i] === 10) newlines++;
  }
  const secs = (performance.now() - t0) / 1000;
  clearInterval(timer);
  sample();
  const rows = newlines - 1; // the header
  if (rows !== expected) throw new Error(`exported ${rows} rows, expected ${expected}`);
  return { rows, bytes, secs, rss: peakRss - base.rss, heap: peakHeap - base.heapUsed, peakRss, peakHeap, baseHeap: base.heapUsed };
}

console.log(`gc between runs: ${gc ? "yes" : "no (run with --expose-gc for steadier numbers)"}`);
const results: { n: number; r: Awaited<ReturnType<typeof run>> }[] = [];
for (const n of SIZES) {
  const company = `biz_bench${n}`;
  const seeded = await seed(company, n);
  console.log(`seeded ${n} commissions in ${seeded.toFixed(1)} s`);
  await run(company, n); // warm-up (JIT, pool, plans) on the same data
  results.push({ n, r: await run(company, n) });
}
console.log();
console.log("rows      time      rows/s    CSV size   peak RSS (+above start)   peak heap (+above start)");
for (const { n, r } of results) {
  console.log(
    `${String(n).padEnd(9)} ${(r.secs.toFixed(2) + " s").padEnd(9)} ${String(Math.round(r.rows / r.secs)).padEnd(9)} ${mb(r.bytes).padEnd(10)} ` +
      `${mb(r.peakRss)} (+${mb(r.rss)})`.padEnd(26) +
      `${mb(r.peakHeap)} (+${mb(r.heap)})`,
  );
}

await client.end();
await (await getBackend()).close();
await db.stop();
