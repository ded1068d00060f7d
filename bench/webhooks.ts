/**
 * Benchmark (not a test): how fast Referly applies Whop payments, the hot path.
 * Starts an embedded Postgres, migrates, and measures process_webhook_event for
 * N attributed payments, sequentially and with C concurrent connections, plus duplicate
 * deliveries. Prints events/second and latency percentiles.
 *
 *   npx tsx bench/webhooks.ts [N=2000] [C=8]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbedded } from "../lib/db/embedded";
import { migrate } from "../lib/db/migrate";
import { createPgBackend } from "../lib/db/pg";

const N = Number(process.argv[2] ?? 2000);
const C = Number(process.argv[3] ?? 8);

const db = await startEmbedded({ dir: mkdtempSync(path.join(tmpdir(), "referly-bench-")), persistent: false });
await db.createDatabase("bench");
await migrate(db.url("bench"));
const backend = createPgBackend(db.url("bench"), C + 2);
const company = "biz_bench";
await backend.rpc("get_or_create_code", { p_company_id: company, p_user_id: "user_referrer", p_username: "ref", p_name: null });
await backend.rpc("set_referral_code", { p_company_id: company, p_user_id: "user_referrer", p_code: "BENCH" });

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
