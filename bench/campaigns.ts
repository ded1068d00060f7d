/**
 * Benchmark (not a test): the campaign, milestone and leaderboard reads at community size.
 *
 *   npx tsx bench/campaigns.ts [MEMBERS=100000] [READS=300]
 *
 * Starts an embedded Postgres, migrates, and makes one company with a running campaign, three
 * milestones and MEMBERS referrers in its standings. The standings and progress counters
 * (campaign_members, campaign_levels, reward_progress) are filled by one INSERT … SELECT with the shape the
 * conversions give them (a long tail: most members 1–2 referrals, a few hundreds; reached_at
 * spread over the campaign) — seeding 100 000 members' conversions through
 * process_webhook_event would take most of an hour and time nothing more. Then, with
 * statistics and the visibility map up to date (vacuum analyze, as autovacuum keeps them), it times READS calls each, for members drawn at random:
 *   - get_member_rewards (the member's Home and Rewards: milestones, unlocked, the campaign
 *     and the member's live place = 1 + members ahead of them);
 *   - get_campaign (the creator's campaign page: the top 50 standings);
 *   - list_rewards (the creator's milestones with their unlocked counters);
 *   - get_leaderboard, this week's and the all-time board (the member's Leaderboard: top 10,
 *     their rank, last week's rank), boards filled the same way (leaderboard_counts/levels);
 *   - snapshot_leaderboards (the job freezing last week: MEMBERS ranked rows, once), then
 *     get_leaderboard_snapshot (the creator's past week, a page of 50) and the member's board
 *     reading last week's rank from the snapshot;
 *   - get_member_gamification (the member Home's tier, streak, drops and challenges), with
 *     streaks, tiers and drops on, every member with a tier and a streak, two running
 *     challenges and a progress row each.
 * Prints p50 / p95 / max in milliseconds of wall time per call, over one connection.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbedded } from "../lib/db/embedded";
import { migrate } from "../lib/db/migrate";

const MEMBERS = Number(process.argv[2] ?? 100_000);
const READS = Number(process.argv[3] ?? 300);

const db = await startEmbedded({ dir: mkdtempSync(path.join(tmpdir(), "referly-bench-")), persistent: false });
await db.createDatabase("bench");
await migrate(db.url("bench"));
const client = new pg.Client({ connectionString: db.url("bench") });
await client.connect();
const q = async (text: string, params: unknown[] = []) => (await client.query(text, params)).rows;
const company = "biz_benchcampaign";

await q(`select public.ensure_program($1)`, [company]);
const [{ id: campaignId }] = await q(`select (public.create_campaign($1, $2))->>'id' as id`, [
  company,
  {
    name: "Bench sprint", start_date: new Date(Date.now() - 7 * 86_400_000).toISOString(),
    end_date: new Date(Date.now() + 21 * 86_400_000).toISOString(), scheduled: true,
    rules: { bonus_rate_bp: 500, bonus_points: 100 },
    prizes: { top: [{ reward_type: "commission", reward_data: { amount_cents: 10000 } }], reach: { count: 10, prize: { reward_type: "points", reward_data: { points: 500 } } } },
  },
]);
for (const [threshold, reward_type, reward_data] of [[3, "points", { points: 300 }], [10, "discount", { percent_off: 50 }], [25, "custom", { note: "hoodie" }]] as const) {
  await q(`select public.create_reward($1, $2)`, [company, { name: `At ${threshold}`, threshold, reward_type, reward_data }]);
}
const t0 = performance.now();
await q(
  `insert into public.users (company_id, user_id, username)
   select $1, 'user_m' || g, 'member' || g from generate_series(1, $2) g`,
  [company, MEMBERS],
);
// a long tail: conversions = floor(1 / u²) capped at 400, reached at a random moment of the campaign so far
await q(
  `insert into public.campaign_members (company_id, campaign_id, user_id, conversions, reached_at)
   select $1, $2, 'user_m' || g, least(400, floor(1 / (0.05 + random())^2))::int, now() - random() * interval '7 days'
   from generate_series(1, $3) g`,
  [company, campaignId, MEMBERS],
);
await q(
  `insert into public.campaign_levels (campaign_id, conversions, members)
   select campaign_id, conversions, count(*) from public.campaign_members where campaign_id = $1 and conversions > 0 group by 1, 2`,
  [campaignId],
);
await q(
  `insert into public.reward_progress (company_id, user_id, conversions)
   select company_id, user_id, conversions + floor(random() * 3)::int from public.campaign_members where campaign_id = $1`,
  [campaignId],
);
for (const [period, start] of [["all", "1970-01-01"], ["week", null], ["week", "prev"]] as const) {
  await q(
    `insert into public.leaderboard_counts (company_id, period, period_start, user_id, conversions, reached_at)
     select $1, $2, case when $3::text is null then public.leaderboard_period_start($1, 'week', now())
                         when $3 = 'prev' then public.leaderboard_period_start($1, 'week', now()) - 7 else $3::date end,
       user_id, conversions, reached_at from public.campaign_members where campaign_id = $4`,
    [company, period, start, campaignId],
  );
}
await q(
  `insert into public.leaderboard_levels (company_id, period, period_start, conversions, members)
   select company_id, period, period_start, conversions, count(*) from public.leaderboard_counts where company_id = $1 and conversions > 0 group by 1, 2, 3, 4`,
  [company],
);
// gamification (supabase/schemas/60_gamification.sql): every member has a tier and a
// streak, two challenges run and every member has progress in the first
await q(`select public.update_program_settings($1, '{"streaks_enabled": true, "tiers_enabled": true, "drop_chance_pct": 10}')`, [company]);
await q(
  `insert into public.referral_tiers (company_id, user_id, current_tier, best_conversions, reached_at)
   select company_id, user_id, public.tier_for(p, conversions)->>'name', conversions, now() from public.reward_progress g
   join public.programs p using (company_id) where g.company_id = $1`,
  [company],
);
await q(
  `insert into public.referral_streaks (company_id, user_id, current_streak, longest_streak, bonus_multiplier, started_at, last_conversion_at,
     last_referral_id, streak_expires_at)
   select $1, user_id, 1 + (conversions % 5), 1 + (conversions % 5), 1 + least(0.1 * (conversions % 5), 0.5), now() - interval '3 days',
     now() - interval '1 day', gen_random_uuid(), now() + interval '6 days' from public.reward_progress where company_id = $1`,
  [company],
);
for (const [name, target] of [["Refer 5 this month", 5], ["Refer 20 this week", 20]] as const) {
  await q(`select public.create_challenge($1, $2)`, [
    company,
    { challenge_name: name, target_referrals: target, period: target === 5 ? "month" : "week", reward_type: "points", reward_data: { points: 500 } },
  ]);
}
await q(
  `insert into public.referral_challenges (company_id, challenge_id, user_id, challenge_name, target_referrals, achieved_referrals, status)
   select $1, c.id, g.user_id, c.challenge_name, c.target_referrals, least(g.conversions, 5), case when g.conversions >= 5 then 'completed' else 'active' end
   from public.reward_progress g cross join (select * from public.challenges where company_id = $1 and target_referrals = 5) c where g.company_id = $1`,
  [company],
);
await q(`update public.campaigns set total_referrals = (select sum(conversions) from public.campaign_members where campaign_id = $1) where id = $1`, [campaignId]);
await q(`vacuum analyze`);
console.log(`seeded ${MEMBERS} members in the standings in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

async function time(label: string, call: (i: number) => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < READS; i++) {
    const t = performance.now();
    await call(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(2);
  console.log(`${label.padEnd(44)} p50 ${at(0.5)} ms  p95 ${at(0.95)} ms  max ${ms[ms.length - 1].toFixed(2)} ms`);
}

const member = () => `user_m${1 + Math.floor(Math.random() * MEMBERS)}`;
await time("get_member_rewards (member Home / Rewards)", () => q(`select public.get_member_rewards($1, $2)`, [company, member()]));
await time("get_campaign (top 50 standings)", () => q(`select public.get_campaign($1, $2)`, [company, campaignId]));
await time("list_rewards (milestones + unlocked)", () => q(`select public.list_rewards($1)`, [company]));
await time("get_leaderboard week (top 10, rank, last week)", () => q(`select public.get_leaderboard($1, $2, 'week', false)`, [company, member()]));
await time("get_leaderboard all time", () => q(`select public.get_leaderboard($1, $2, 'all', false)`, [company, member()]));
await time("get_member_gamification (Home: tier, streak, challenges)", () => q(`select public.get_member_gamification($1, $2)`, [company, member()]));
{
  const t = performance.now();
  const [{ r }] = await q(`select public.snapshot_leaderboards() as r`);
  console.log(`snapshot_leaderboards (last week, once): ${JSON.stringify(r)} in ${(performance.now() - t).toFixed(0)} ms`);
}
await time("get_leaderboard_snapshot (creator, 50 by rank)", (i) =>
  q(`select public.get_leaderboard_snapshot($1, 'week', null, $2)`, [company, (i * 997) % Math.max(1, MEMBERS - 50)]),
);
await time("get_leaderboard week (previous from snapshot)", () => q(`select public.get_leaderboard($1, $2, 'week', false)`, [company, member()]));
const [{ place }] = await q(`select (public.get_member_rewards($1, 'user_m1'))->'campaign'->>'place' as place`, [company]);
console.log(`sanity: user_m1's live place ${place} of ${MEMBERS}`);

await client.end();
await db.stop();
