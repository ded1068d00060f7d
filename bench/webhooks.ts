/**
 * Benchmark (not a test): how fast Referly applies Whop payments, the hot path.
 * Starts an embedded Postgres, migrates, and measures process_webhook_event for
 * N attributed payments, sequentially and with C concurrent connections, plus duplicate
 * deliveries. Prints events/second and latency percentiles.
 *
 *   npx tsx bench/webhooks.ts [N=2000] [C=8] [--campaign] [--gamification]
 *
 * --campaign: an active campaign (bonus rate and points, prizes) and three milestones
 * (points at 3, a promo code at 10, custom at 50) are live, so every conversion also joins
 * the campaign, counts in its standings and checks the milestones (the referrer is the
 * same for every payment: the campaign's rows are as hot as they get).
 *
 * --gamification: every gamification feature on — streak bonus (+10 % a step to
 * ×1.5), tier bonus (Bronze 0, Silver 5, Gold 20), surprise drops (50 %), two running
 * challenges (one completed on the way), every notification kind (queued in the outbox; not
 * sent: that is after the transaction). Without it they are off (streaks and tiers are still
 * kept, as they always are) and every notification kind is turned off.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbedded } from "../lib/db/embedded";
import { migrate } from "../lib/db/migrate";
import { createPgBackend } from "../lib/db/pg";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const N = Number(args[0] ?? 2000);
const C = Number(args[1] ?? 8);
const CAMPAIGN = process.argv.includes("--campaign");
const GAMIFICATION = process.argv.includes("--gamification");

const db = await startEmbedded({ dir: mkdtempSync(path.join(tmpdir(), "referly-bench-")), persistent: false });
await db.createDatabase("bench");
await migrate(db.url("bench"));
const backend = createPgBackend(db.url("bench"), C + 2);
const company = "biz_bench";
await backend.rpc("get_or_create_code", { p_company_id: company, p_user_id: "user_referrer", p_username: "ref", p_name: null });
await backend.rpc("set_referral_code", { p_company_id: company, p_user_id: "user_referrer", p_code: "BENCH" });
if (CAMPAIGN) {
  const day = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();
  await backend.rpc("create_campaign", {
    p_company_id: company,
    p_campaign: {
      name: "Bench sprint", start_date: day(-1), end_date: day(30), scheduled: true,
      rules: { bonus_rate_bp: 500, bonus_points: 100 },
      prizes: { top: [{ reward_type: "commission", reward_data: { amount_cents: 10000 } }], reach: { count: 5, prize: { reward_type: "points", reward_data: { points: 500 } } } },
    },
  });
  for (const [threshold, reward_type, reward_data] of [[3, "points", { points: 300 }], [10, "discount", { percent_off: 50 }], [50, "custom", { note: "hoodie" }]] as const) {
    await backend.rpc("create_reward", { p_company_id: company, p_reward: { name: `at ${threshold}`, threshold, reward_type, reward_data } });
  }
}
if (GAMIFICATION) {
  await backend.rpc("update_program_settings", {
    p_company_id: company,
    p_settings: { streaks_enabled: true, streak_step_pct: 10, streak_cap_pct: 50, tiers_enabled: true, drop_chance_pct: 50, drop_points: 25 },
  });
  for (const [name, target] of [["Refer 5 this month", 5], ["Refer 100 000 this week", 100_000]] as const) {
    await backend.rpc("create_challenge", {
      p_company_id: company,
      p_challenge: { challenge_name: name, target_referrals: target, period: target === 5 ? "month" : "week", reward_type: "points", reward_data: { points: 500 } },
    });
  }
} else {
  await backend.rpc("update_program_settings", {
    p_company_id: company,
    p_settings: { notifications_off: ["commission_earned", "tier_reached", "milestone_reached", "challenge_completed", "payout_sent"] },
  });
}
console.log(CAMPAIGN ? "with a campaign and three milestones live" : "no campaign, no milestones");
console.log(GAMIFICATION ? "gamification on: streaks, tiers, drops, two challenges, notifications" : "gamification off");

const payment = (i: number) => ({
  id: `pay_${i}`,
  total: 49.99,
  tax_amount: null,
  currency: "usd",
  user: { id: `user_buyer${i}`, username: `buyer${i}`, name: null },
  metadata: { referral_code: "BENCH" },
});
const deliver = (event: string, i: number) =>
  backend.rpc("process_webhook_event", { p_event_id: event, p_type: "payment.succeeded", p_company_id: company, p_data: payment(i) });

async function run(label: string, count: number, concurrency: number, make: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await make(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(2);
  console.log(`${label.padEnd(34)} ${String(count).padStart(6)} events  ${(count / secs).toFixed(0).padStart(6)} ev/s  p50 ${pct(50)} ms  p99 ${pct(99)} ms`);
}

await run("first payments, 1 connection", N / 2, 1, (i) => deliver(`evt_a${i}`, i));
await run(`first payments, ${C} connections`, N / 2, C, (i) => deliver(`evt_b${i}`, N + i));
await run(`duplicate deliveries, ${C} connections`, N / 2, C, (i) => deliver(`evt_a${i}`, i));
const r = await backend.rpc("get_user_referral_earnings", { p_company_id: company, p_user_id: "user_referrer" });
console.log("referrer earnings after the run:", JSON.stringify(r));
await backend.close();
await db.stop();
