/**
 * Benchmark (not a test): what the fraud checks cost on the payment path.
 *
 *   npx tsx bench/fraud.ts [N=500] [C=4] [RUNS=5] [REFERRERS=100]
 *
 * Starts an embedded Postgres, migrates, and sets up two companies that differ only in
 * fraud_mode: biz_off ('off') and biz_hold ('hold', the default). Each has REFERRERS members
 * who opened the member app (record_member_visit: IP, /24 and device hashes) and whose email
 * is known; before each timed batch every buyer clicks a link (record_click with the
 * visitor's hashes, as /r does; not timed) and the tables are ANALYZEd (a fresh database
 * has no statistics, and its plans then scan whole companies). Each run then measures, per company and with C
 * concurrent connections, process_webhook_event for:
 *   - N first payments that convert (each a new buyer attributed by {referral_code,
 *     click_id}; run_fraud_checks runs all eight checks in 'hold'), and
 *   - N renewals of buyers converted in an earlier run (no checks; commission again).
 * Every event's data is built as lib/webhooks/index.ts hands it to SQL: the parsed fields
 * plus referly_signals from lib/fraud paymentSignals (normalised email, throwaway flag,
 * keyed card hash), computed inside the timed call for both modes. The signals are chosen
 * so nothing is held (another IP, device, card and email than the referrer's; the velocity
 * limits above the run; fraud_min_seconds 0), so both modes take the same commission path;
 * the bench checks that (0 held, the same commissions) and prints what was flagged.
 * The two companies' events are interleaved one by one (see `interleaved`), so a noisy,
 * shared machine slows both alike; prints events/second per run, the median of RUNS, and
 * hold/off as the median of the runs' ratios (with their range), and the checks' cost =
 * extra time per event in 'hold'. PROFILE=1 adds the time per SQL function; BENCH_SQL=<file>
 * applies that SQL after the migrations (a candidate fix, measured on the same set-up).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbedded } from "../lib/db/embedded";
import { migrate } from "../lib/db/migrate";
import { createPgBackend } from "../lib/db/pg";

// env() reads these once (lib/env.ts): the bench's own key for the keyed hashes, in demo
// mode (env() wants Whop credentials or REFERLY_DEMO=1; the bench calls no Whop API)
process.env.REFERLY_HASH_SECRET ??= "bench_hash_secret_0123456789abcdef0123";
if (!process.env.WHOP_API_KEY) process.env.REFERLY_DEMO = "1";
const { keyedHash, ipPrefix, paymentSignals } = await import("../lib/fraud");

const N = Number(process.argv[2] ?? 500);
const C = Number(process.argv[3] ?? 4);
const RUNS = Number(process.argv[4] ?? 5);
const REFERRERS = Number(process.argv[5] ?? 100);

const db = await startEmbedded({ dir: mkdtempSync(path.join(tmpdir(), "referly-bench-fraud-")), persistent: false });
await db.createDatabase("bench");
await migrate(db.url("bench"));
// BENCH_SQL=<file>: SQL applied after the migrations (a candidate fix, timed against the same set-up)
if (process.env.BENCH_SQL) {
  const client = new pg.Client({ connectionString: db.url("bench") });
  await client.connect();
  await client.query(readFileSync(process.env.BENCH_SQL, "utf8"));
  await client.end();
  console.log(`applied ${process.env.BENCH_SQL}`);
}
const backend = createPgBackend(db.url("bench"), C + 2);
const rpc = (name: string, args: Record<string, unknown>) => backend.rpc(name, args);
// PROFILE=1: time spent per SQL function, printed at the end
if (process.env.PROFILE) await backend.pool.query(`alter database bench set track_functions = 'pl'`);

const MODES = ["off", "hold"] as const;
type Mode = (typeof MODES)[number];
const company = (m: Mode) => `biz_${m}`;
const code = (m: Mode, r: number) => `B${m.toUpperCase()}${r}`;
const hashes = (addr: string, device: string) => ({
  p_ip_hash: keyedHash("ip", addr),
  p_ip_prefix_hash: keyedHash("net", ipPrefix(addr)),
  p_device_hash: keyedHash("device", device),
});

// ── Set-up (not timed) ───────────────────────────────────────────────────────
for (const m of MODES) {
  await rpc("update_program_settings", {
    p_company_id: company(m),
    p_settings: { fraud_mode: m, fraud_min_seconds: 0, fraud_velocity_hour: 100000, fraud_velocity_day: 100000 },
  });
  for (let r = 0; r < REFERRERS; r++) {
    const user = `user_ref${r}`;
    await rpc("get_or_create_code", { p_company_id: company(m), p_user_id: user, p_username: `ref${r}`, p_name: null });
    await rpc("set_referral_code", { p_company_id: company(m), p_user_id: user, p_code: code(m, r) });
    // the referrer opened the member app from 10.x (their own network and browser)
    await rpc("record_member_visit", { p_company_id: company(m), p_user_id: user, ...hashes(`10.0.${r >> 8}.${r & 255}`, `referrer-browser-${r}`) });
  }
}

// the referrers' own emails are known (email_duplicate compares them: Levenshtein, the slow branch)
for (const m of MODES) {
  await backend.pool.query(`update public.users set email_normalized = 'referrer.' || user_id || '@example.com' where company_id = $1`, [company(m)]);
}

/** The buyer `i` of run `run` in mode `m`: their click through referrer i % REFERRERS, from 172.16+.x. */
const buyer = (m: Mode, run: number, i: number) => ({ user: `user_b${run}_${i}`, referrer: i % REFERRERS, click: "" as string, m });
type Buyer = ReturnType<typeof buyer>;

async function clickFor(b: Buyer, run: number, i: number) {
  const k = (await rpc("record_click", {
    p_code: code(b.m, b.referrer),
    p_visitor_hash: keyedHash("visitor", `${run}|${i}`),
    p_user_agent: "Mozilla/5.0 bench",
    p_referrer_url: null,
    p_country: null,
    p_is_bot: false,
    ...hashes(`11.${run & 255}.${(i >> 8) & 255}.${i & 255}`, `buyer-browser-${run}-${i}`),
  })) as { click_id: string };
  b.click = k.click_id;
}

/** The data lib/webhooks/index.ts passes for a payment: parsed fields + referly_signals. */
function paymentData(b: Buyer, paymentId: string, first: boolean) {
  const signals = paymentSignals({
    user: { email: `Buyer.${b.user}+shop@example.com` },
    card_brand: "visa",
    card_last4: "4242",
    billing_address: { postal_code: b.user }, // the referrers never paid: no card can match
  });
  return {
    id: paymentId,
    total: 49.99,
    tax_amount: null,
    currency: "usd",
    user: { id: b.user, username: b.user.slice(5), name: null },
    metadata: first ? { referral_code: code(b.m, b.referrer), click_id: b.click } : null,
    company: { id: company(b.m) },
    product: { id: "prod_bench" },
    referly_signals: signals,
  };
}

// C connections per company, each one worker's own (so each Postgres backend serves one mode)
const conns: Record<Mode, pg.Client[]> = { off: [], hold: [] };
const pids: Record<Mode, number[]> = { off: [], hold: [] };
for (const m of MODES) {
  for (let w = 0; w < C; w++) {
    const client = new pg.Client({ connectionString: db.url("bench") });
    await client.connect();
    conns[m].push(client);
    pids[m].push((await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0].pid);
  }
}
/** CPU seconds (user + system) the mode's Postgres backends have used: /proc/<pid>/stat. */
const cpu = (m: Mode) =>
  pids[m].reduce((sum, pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return sum + (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100/s)
  }, 0);

/** One payment.succeeded as the app hands it to SQL, on worker w's connection of the buyer's mode. */
const deliver = (w: number, b: Buyer, event: string, paymentId: string, first: boolean) =>
  conns[b.m][w].query(`select public.process_webhook_event(p_event_id => $1, p_type => $2, p_company_id => $3, p_data => $4::jsonb)`, [
    event,
    "payment.succeeded",
    company(b.m),
    JSON.stringify(paymentData(b, paymentId, first)),
  ]);

/**
 * `count` events of each mode, interleaved: C workers each take the next index and deliver
 * that index's event to both companies, off then hold on even indexes, hold then off on odd
 * ones (the companies have separate rollup locks, so they do not queue on each other). Each
 * call's latency is added to its mode; a mode's events/second = count / (its summed latency
 * / C), its share of the wall time. A slower or busier moment of the machine hits both alike.
 * Also the database CPU time per event of each mode (its backends' user + system time), which
 * waiting for a busy machine's processors does not inflate.
 */
async function interleaved(count: number, make: (w: number, m: Mode, i: number) => Promise<unknown>) {
  const spent: Record<Mode, number> = { off: 0, hold: 0 };
  const cpu0 = { off: cpu("off"), hold: cpu("hold") };
  let next = 0;
  await Promise.all(
    Array.from({ length: C }, async (_, w) => {
      while (next < count) {
        const i = next++;
        for (const m of i % 2 === 0 ? MODES : [...MODES].reverse()) {
          const t = performance.now();
          await make(w, m, i);
          spent[m] += performance.now() - t;
        }
      }
    }),
  );
  const perSec = (m: Mode) => (count * C * 1000) / spent[m];
  const cpuMs = (m: Mode) => ((cpu(m) - cpu0[m]) * 1000) / count;
  return { off: perSec("off"), hold: perSec("hold"), cpuMs: { off: cpuMs("off"), hold: cpuMs("hold") } };
}

// ── Runs ─────────────────────────────────────────────────────────────────────
type Figure = "first" | "renew" | "all" | "firstCpu" | "renewCpu";
const figures: Record<Mode, Record<Figure, number[]>> = {
  off: { first: [], renew: [], all: [], firstCpu: [], renewCpu: [] },
  hold: { first: [], renew: [], all: [], firstCpu: [], renewCpu: [] },
};
let previous: Record<Mode, Buyer[]> | undefined;

async function measure(run: number) {
  const buyers = { off: Array.from({ length: N }, (_, i) => buyer("off", run, i)), hold: Array.from({ length: N }, (_, i) => buyer("hold", run, i)) };
  for (const m of MODES) for (let i = 0; i < N; i++) await clickFor(buyers[m][i], run, i);
  // statistics as a live database has them (a fresh one has none, and plans scan whole companies)
  await backend.pool.query("analyze");
  const first = await interleaved(N, (w, m, i) => deliver(w, buyers[m][i], `evt_${m}_${run}_f${i}`, `pay_${m}_${run}_f${i}`, true));
  // renewals: the buyers of the previous run (on the warm-up, this run's, just converted)
  const renewing = previous ?? buyers;
  const renew = await interleaved(N, (w, m, i) => deliver(w, renewing[m][i], `evt_${m}_${run}_r${i}`, `pay_${m}_${run}_r${i}`, false));
  previous = buyers;
  return { first, renew };
}

console.log(`N=${N} first payments + ${N} renewals per company per run, C=${C} connections each, ${REFERRERS} referrers, ${RUNS} runs (+1 warm-up)`);
for (let run = 0; run <= RUNS; run++) {
  const { first, renew } = await measure(run);
  const line = MODES.map(
    (m) =>
      `${m.padEnd(4)} first ${first[m].toFixed(0).padStart(4)} ev/s ${first.cpuMs[m].toFixed(2)} cpu-ms, ` +
      `renewals ${renew[m].toFixed(0).padStart(4)} ev/s ${renew.cpuMs[m].toFixed(2)} cpu-ms`,
  );
  console.log(`${run === 0 ? "warm-up" : `run ${run}`.padEnd(7)}  ${line.join("  |  ")}`);
  if (run === 0) continue;
  for (const m of MODES) {
    figures[m].first.push(first[m]);
    figures[m].renew.push(renew[m]);
    figures[m].all.push((2 * N) / (N / first[m] + N / renew[m]));
    figures[m].firstCpu.push(first.cpuMs[m]);
    figures[m].renewCpu.push(renew.cpuMs[m]);
  }
}
// the ratio within each run (interleaved), so drift of the machine cancels
const pairs = (k: "first" | "renew" | "all") => figures.hold[k].map((h, i) => h / figures.off[k][i]);

// ── Same commission path in both modes, nothing held ─────────────────────────
for (const m of MODES) {
  const [r] = (
    await backend.pool.query(
      `select (select count(*) from public.referrals where company_id = $1 and fraud_status = 'held') as held,
              (select count(*) from public.referrals where company_id = $1 and fraud_status = 'flagged') as flagged,
              (select count(*) from public.commissions where company_id = $1 and status = 'on_hold') as on_hold,
              (select count(*) from public.commissions where company_id = $1) as commissions,
              (select count(*) from public.fraud_checks where company_id = $1) as checks,
              (select count(*) from public.fraud_checks where company_id = $1 and flagged) as flagged_checks`,
      [company(m)],
    )
  ).rows;
  console.log(
    `${m.padEnd(4)}: ${r.commissions} commissions (${r.on_hold} on hold), referrals held ${r.held}, flagged ${r.flagged}; fraud_checks rows ${r.checks} (${r.flagged_checks} flagged)`,
  );
  if (Number(r.held) > 0 || Number(r.on_hold) > 0) console.log(`  ! ${m}: something was held — the modes did not take the same path`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`\nmedian of ${RUNS} runs (events/second)      off     hold   hold/off (median of pairs, min–max)   checks cost`);
for (const k of ["first", "renew", "all"] as const) {
  const ratio = median(pairs(k));
  const label = { first: "first payments (convert)", renew: "renewals", all: "payment path, both" }[k];
  console.log(
    `  ${label.padEnd(36)} ${median(figures.off[k]).toFixed(0).padStart(6)} ${median(figures.hold[k]).toFixed(0).padStart(8)} ` +
      `${ratio.toFixed(3).padStart(9)} (${Math.min(...pairs(k)).toFixed(2)}–${Math.max(...pairs(k)).toFixed(2)})`.padEnd(40) +
      `${((1 / ratio - 1) * 100).toFixed(1).padStart(6)} %`,
  );
}
for (const k of ["firstCpu", "renewCpu"] as const) {
  const off = median(figures.off[k]);
  const hold = median(figures.hold[k]);
  const label = k === "firstCpu" ? "database CPU ms per first payment" : "database CPU ms per renewal";
  console.log(`  ${label.padEnd(36)} ${off.toFixed(2).padStart(6)} ${hold.toFixed(2).padStart(8)} ${" ".repeat(40)}${((hold / off - 1) * 100).toFixed(1).padStart(6)} %`);
}
console.log("(checks cost = extra time per event in 'hold' over 'off'; the target is under 20 % on first payments)");
if (process.env.PROFILE) {
  const { rows } = await backend.pool.query(
    `select funcname, calls, round(total_time::numeric) as total_ms, round(self_time::numeric) as self_ms
     from pg_stat_user_functions order by self_time desc limit 15`,
  );
  console.log("\nSQL functions by own time (PROFILE=1):");
  for (const r of rows) console.log(`  ${String(r.funcname).padEnd(32)} ${String(r.calls).padStart(8)} calls ${String(r.total_ms).padStart(8)} ms total ${String(r.self_ms).padStart(8)} ms self`);
}
for (const m of MODES) for (const client of conns[m]) await client.end();
await backend.close();
await db.stop();
