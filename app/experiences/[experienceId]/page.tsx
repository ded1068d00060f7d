import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { bucketLabel, day, statusColor } from "@/app/_components/format";
import { Stat } from "@/app/_components/stat";
import { SimpleTable } from "@/app/_components/table";
import { TrendChart } from "@/app/_components/trend-chart";
import { referralLink } from "@/lib/codes";
import { getMemberWallet } from "@/lib/commissions";
import { env } from "@/lib/env";
import { getMemberGamification, type MemberGamification } from "@/lib/gamification";
import { formatMoney } from "@/lib/money";
import { getMemberView } from "@/lib/referrals";
import { describeReward, getMemberRewards, type MemberCampaign, type RewardData } from "@/lib/rewards";
import { basisPointsToPercent } from "@/lib/money";
import { whop } from "@/lib/whop/client";
import { requireExperienceViewer } from "@/lib/whop/viewer";
import { setCodeAction, setNotificationsAction } from "./actions";
import { ClaimForm } from "./claim-form";
import { CopyLink } from "./copy-link";

export const dynamic = "force-dynamic";

/** Member Home: link (copy, share), code, funnel, what they earned this month, their last 30 days, referrals, "who invited you?". */
export default async function MemberHome({ params }: { params: Promise<{ experienceId: string }> }) {
  const { experienceId } = await params;
  const viewer = await requireExperienceViewer(experienceId);
  const profile = await whop().users.retrieve(viewer.userId).catch(() => null);
  const [view, wallet, rewards, game] = await Promise.all([
    getMemberView(viewer.companyId, { id: viewer.userId, username: profile?.username ?? null, name: profile?.name ?? null }),
    getMemberWallet(viewer.companyId, viewer.userId),
    getMemberRewards(viewer.companyId, viewer.userId),
    getMemberGamification(viewer.companyId, viewer.userId),
  ]);
  const link = referralLink(view.code);
  const cur = view.program.currency;
  const earned = view.earnings.find((e) => e.currency === cur) ?? { total_earnings: 0, pending_earnings: 0, paid_earnings: 0 };
  const points = view.series.map((s) => ({ ...s, label: bucketLabel(s.bucket) }));

  return (
    <>
      <Card size="3">
        <div className="stack">
          <Heading size="6">Invite friends, earn commission</Heading>
          <Text className="muted">Share your link. When someone joins and pays through it, you earn a commission.</Text>
          <span className="link-box" data-testid="referral-link">{link}</span>
          <CopyLink link={link} />
          <Text size="2" className="muted">
            Your code: <strong data-testid="referral-code">{view.code}</strong>
            {!view.code_active && <> <Badge color="gray">switched off by the creator</Badge></>}
          </Text>
          <ActionForm action={setCodeAction.bind(null, experienceId)} label="Change your code" className="inline-form">
            <input name="code" placeholder="A code of your own" aria-label="New code" />
            <Button size="1" variant="soft" type="submit">Change code</Button>
          </ActionForm>
          {env().demo && (
            <Text size="2">
              <a href={`/r/${encodeURIComponent(view.code)}`}>Simulate a purchase through this link →</a>
            </Text>
          )}
        </div>
      </Card>

      {rewards.campaign && <CampaignCard campaign={rewards.campaign} currency={view.program.currency} />}
      <GamificationCard game={game} currency={view.program.currency} />

      <section className="grid" aria-label="Funnel">
        <Stat label="Clicks" value={view.funnel.clicks} testId="funnel-clicks" />
        <Stat label="Signups" value={view.funnel.signups} testId="funnel-signups" />
        <Stat label="Conversions" value={view.funnel.conversions} testId="funnel-conversions" />
        <Stat label="Active referrals" value={view.funnel.active_referrals} testId="funnel-active" />
      </section>

      <section className="grid" aria-label="Earnings">
        <Stat label="Earned this month" value={formatMoney(view.this_month_cents, cur)} testId="earned-month" />
        <Stat label="Earned in total" value={formatMoney(earned.total_earnings, cur)} testId="earnings-total" />
      </section>
      {wallet.balances.on_hold > 0 && (
        <Text size="2" data-testid="under-review">
          Under review: {formatMoney(wallet.balances.on_hold, wallet.currency)} of commission is being checked by the creator before it counts.
        </Text>
      )}
      <Text size="2">
        <Link href={`/experiences/${experienceId}/earnings`}>Your balance, payouts and commissions →</Link>
      </Text>

      <Card size="2">
        <Heading size="3">Your last 30 days</Heading>
        <TrendChart
          label="Your clicks and conversions over the last 30 days"
          points={points}
          height={200}
          series={[
            { key: "clicks", label: "Clicks", color: "#7c3aed" },
            { key: "conversions", label: "Conversions", color: "#16a34a" },
          ]}
        />
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Your referrals</Heading>
          {view.referrals.length === 0 ? (
            <Text className="muted">No referrals yet — share your link to get the first one.</Text>
          ) : (
            <SimpleTable
              label="Your referrals"
              columns={["Member", "Status", "Joined"]}
              rows={view.referrals.map((r) => ({
                key: `${r.referee}-${r.created_at}`,
                cells: [
                  r.referee,
                  <Badge key="s" color={statusColor[r.status] ?? "gray"}>{r.status === "converted" && !r.active ? "converted · inactive" : r.status}</Badge>,
                  day(r.created_at),
                ],
              }))}
            />
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Who invited you?</Heading>
          {view.referred_by ? (
            <Text data-testid="referred-by">
              You were invited by <strong>{view.referred_by.username}</strong>.
            </Text>
          ) : (
            <ClaimForm experienceId={experienceId} />
          )}
        </div>
      </Card>

      <ActionForm
        action={setNotificationsAction.bind(null, experienceId, !game.notifications_muted)}
        label={game.notifications_muted ? "Turn notifications on" : "Mute notifications"}
        className="inline-form"
      >
        <Text size="2" className="muted" data-testid="notifications">
          {game.notifications_muted ? "Notifications are muted." : "You get a Whop notification when you earn, reach a tier or a milestone, or are paid."}
        </Text>
        <Button size="1" variant="ghost" type="submit">{game.notifications_muted ? "Turn notifications on" : "Mute notifications"}</Button>
      </ActionForm>
    </>
  );
}

/**
 * The member's tier (and what the next one needs), streak (alive, days left, multiplier) and
 * latest credits — each only when the creator has it on (or credits exist).
 */
function GamificationCard({ game: g, currency }: { game: MemberGamification; currency: string }) {
  const showDrops = g.drop_chance_pct > 0 || g.drops.length > 0;
  if (!g.tiers_enabled && !g.streaks_enabled && !showDrops && g.challenges.length === 0) return null;
  const s = g.streak;
  return (
    <Card size="2">
      <div className="stack" aria-label="Your level">
        {g.challenges.length > 0 && (
          <div className="stack" data-testid="challenges">
            <Heading size="4">Challenges</Heading>
            {g.challenges.map((c) => (
              <div key={c.id} className="stack" data-testid="challenge">
                <Text size="2">
                  <strong>{c.challenge_name}</strong> — {c.achieved_referrals} of {c.target_referrals} conversions · wins{" "}
                  {describeReward(c.reward_type, c.reward_data as RewardData, currency)} ·{" "}
                  {c.status === "completed" ? (
                    <Badge color="green">completed</Badge>
                  ) : c.status === "expired" ? (
                    <Badge color="gray">ended</Badge>
                  ) : (
                    timeLeft(c.ends_at)
                  )}
                </Text>
                <progress max={c.target_referrals} value={c.achieved_referrals} aria-label={`${c.challenge_name} progress`} />
              </div>
            ))}
          </div>
        )}
        {g.tiers_enabled && (
          <div className="stack" data-testid="tier">
            <Heading size="4">
              {g.tier.name} tier{g.tier.bonus_pct > 0 && <> · +{g.tier.bonus_pct}% commission</>}
            </Heading>
            {g.next_tier ? (
              <>
                <progress
                  max={g.tiers_by === "conversions" ? g.next_tier.min_conversions : g.next_tier.min_commissions_cents}
                  value={(g.tiers_by === "conversions" ? g.next_tier.min_conversions! : g.next_tier.min_commissions_cents!) - g.next_tier.needs}
                  aria-label="Progress to the next tier"
                />
                <Text size="2" data-testid="next-tier">
                  {g.tiers_by === "conversions"
                    ? `${g.next_tier.needs} more conversion${g.next_tier.needs === 1 ? "" : "s"}`
                    : `${formatMoney(g.next_tier.needs, g.currency)} more in commissions`}{" "}
                  to {g.next_tier.name} (+{g.next_tier.bonus_pct}% commission{g.next_tier.plan_id ? " and free access to a plan" : ""}). Tiers are
                  for good: you never drop one.
                </Text>
              </>
            ) : (
              <Text size="2">You are at the top tier.</Text>
            )}
          </div>
        )}
        {g.streaks_enabled && (
          <Text size="2" data-testid="streak">
            {s?.active ? (
              <>
                <strong>🔥 {s.current_streak}-conversion streak</strong> · ×{s.multiplier.toFixed(2)} on your last conversion&apos;s commission ·{" "}
                {s.days_left === 0 ? "ends today" : `${s.days_left} day${s.days_left === 1 ? "" : "s"} left`} to keep it going: your next
                conversion earns ×{s.next_multiplier.toFixed(2)}.
              </>
            ) : (
              <>
                No streak running. Get a conversion, then another within {g.streak_window_days} days: each one in a row earns more, up to ×
                {g.max_multiplier.toFixed(2)}.
              </>
            )}
          </Text>
        )}
        {showDrops && (
          <div className="stack" data-testid="drops">
            <Text size="2" className="muted">
              {g.drop_chance_pct > 0
                ? `Each conversion has a ${g.drop_chance_pct}% chance of a surprise drop of ${g.drop_points} points.`
                : "Your latest credits."}
            </Text>
            {g.drops.length > 0 && (
              <ul>
                {g.drops.map((d) => (
                  <li key={`${d.reason}-${d.created_at}`}>
                    {d.reason === "drop" ? "🎁 Surprise drop" : d.reason === "challenge" ? "🏆 Challenge" : "🏁 Milestone"}: +{d.reward_value}{" "}
                    points · {day(d.created_at)}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
      </div>
    </Card>
  );
}

/** "3 days left", "5 hours left", "less than an hour left" until `end`. */
function timeLeft(end: string): string {
  const ms = Date.parse(end) - Date.now();
  const days = Math.floor(ms / 86_400_000);
  if (days >= 1) return `${days} day${days === 1 ? "" : "s"} left`;
  const hours = Math.floor(ms / 3_600_000);
  return hours >= 1 ? `${hours} hour${hours === 1 ? "" : "s"} left` : "less than an hour left";
}

/** The campaign running now: what it pays, time left, the member's count and place, the prizes. */
function CampaignCard({ campaign: c, currency }: { campaign: MemberCampaign; currency: string }) {
  const pays = [
    c.rules.bonus_rate_bp ? `+${basisPointsToPercent(c.rules.bonus_rate_bp)}% commission` : null,
    c.rules.bonus_points ? `+${c.rules.bonus_points} points` : null,
  ].filter(Boolean);
  const prize = (p: { reward_type: string; reward_data: Record<string, unknown> }) => describeReward(p.reward_type, p.reward_data as RewardData, currency);
  return (
    <Card size="2" data-testid="campaign-card">
      <div className="stack">
        <Heading size="4">
          {c.name} <Badge color="green">{timeLeft(c.end_date)}</Badge>
        </Heading>
        {c.description && <Text size="2">{c.description}</Text>}
        {pays.length > 0 && <Text>Every referral who pays now earns you {pays.join(" and ")}.</Text>}
        <Text>
          You: <strong data-testid="campaign-conversions">{c.conversions}</strong> referral{c.conversions === 1 ? "" : "s"}
          {c.place ? <> · place <strong data-testid="campaign-place">#{c.place}</strong></> : " — your first one puts you on the board"}
        </Text>
        {(c.prizes.top?.length || c.prizes.reach) && (
          <ul>
            {(c.prizes.top ?? []).map((p, i) => <li key={i}>Place {i + 1}: {prize(p)}</li>)}
            {c.prizes.reach && <li>Everyone with {c.prizes.reach.count} referrals: {prize(c.prizes.reach.prize)}</li>}
          </ul>
        )}
      </div>
    </Card>
  );
}
