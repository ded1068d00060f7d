import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { SimpleTable } from "@/app/_components/table";
import { getMemberWallet } from "@/lib/commissions";
import { getProgram } from "@/lib/programs";
import { describeReward, getMemberRewards, type RewardData, type RewardRedemption } from "@/lib/rewards";
import { requireExperienceViewer } from "@/lib/whop/viewer";
import { redeemAction } from "../actions";
import { claimRewardAction, markUsedAction } from "./actions";

export const dynamic = "force-dynamic";

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/** What an unlocked reward is now, in the member's words. */
function unlockedState(r: RewardRedemption): string {
  if (r.status === "claimed") return "used";
  if (r.status === "granted") return "ready";
  if (r.status === "failed") return "being retried";
  if (!r.requested_at) return "claim it";
  return r.reward_type === "custom" ? "the creator will send it" : "on its way";
}

/**
 * Member Rewards: milestones with their progress and what the member unlocked or won, then
 * the points shop (balance, items, redemptions) and the points history.
 */
export default async function RewardsPage({ params }: { params: Promise<{ experienceId: string }> }) {
  const { experienceId } = await params;
  const viewer = await requireExperienceViewer(experienceId);
  const [wallet, rewards, program] = await Promise.all([
    getMemberWallet(viewer.companyId, viewer.userId),
    getMemberRewards(viewer.companyId, viewer.userId),
    getProgram(viewer.companyId),
  ]);
  const cur = program.currency;
  return (
    <>
      {(rewards.milestones.length > 0 || rewards.unlocked.length > 0) && (
        <Card size="2">
          <div className="stack">
            <Heading size="4">Milestones</Heading>
            {rewards.milestones.map((m) => {
              const what = describeReward(m.reward_type, m.reward_data as RewardData, cur);
              return (
                <div key={m.id} className="stack" data-testid={`milestone-${slug(m.name)}`}>
                  <Text weight="bold">
                    {m.name} <Text size="2" className="muted">({what}{m.campaign_name ? `, referrals in ${m.campaign_name}` : ""})</Text>
                  </Text>
                  {m.description && <Text size="2" className="muted">{m.description}</Text>}
                  <progress max={m.threshold} value={m.progress} aria-label={`${m.name} progress`} data-testid="milestone-progress" />
                  <Text size="2">
                    {m.remaining > 0
                      ? `${m.progress} of ${m.threshold} — ${m.remaining} more referral${m.remaining === 1 ? "" : "s"} to unlock ${what}`
                      : `Unlocked: ${what}`}
                  </Text>
                </div>
              );
            })}
            {rewards.unlocked.length > 0 && (
              <>
                <Heading size="3">Unlocked and won</Heading>
                {rewards.unlocked.map((u) => {
                  const code = u.result?.promo_code as string | undefined;
                  return (
                    <div key={u.id} className="row" data-testid="unlocked-reward">
                      <Text>
                        <strong>{u.name}</strong> — {describeReward(u.reward_type, u.reward_data as RewardData, cur)}{" "}
                        <Badge color={statusColor[u.status] ?? "gray"}>{unlockedState(u)}</Badge>
                      </Text>
                      {code && (
                        <Text size="2">
                          Code <span className="link-box" data-testid="promo-code">{code}</span> —{" "}
                          {u.reward_type === "product_unlock" ? "enter it at checkout for free access (one use)." : "enter it at checkout (one use)."}
                        </Text>
                      )}
                      {u.status === "pending" && !u.requested_at && (
                        <ActionForm action={claimRewardAction.bind(null, experienceId, u.id)} label={`Claim ${u.name}`}>
                          <Button size="1" type="submit">Claim</Button>
                        </ActionForm>
                      )}
                      {u.status === "granted" && u.reward_type !== "points" && u.reward_type !== "commission" && (
                        <ActionForm action={markUsedAction.bind(null, experienceId, u.id)} label={`Mark ${u.name} as used`}>
                          <Button size="1" variant="soft" type="submit">Mark as used</Button>
                        </ActionForm>
                      )}
                    </div>
                  );
                })}
              </>
            )}
          </div>
        </Card>
      )}
      <Card size="2">
        <div className="stack">
          <Heading size="4">
            Points: <span data-testid="points-balance">{wallet.points.balance}</span>
          </Heading>
          {wallet.items.length === 0 ? (
            <Text className="muted">No rewards to redeem yet.</Text>
          ) : (
            <div className="grid">
              {wallet.items.map((i) => (
                <Card key={i.id}>
                  <ActionForm action={redeemAction.bind(null, experienceId, i.id)} label={`Redeem ${i.name}`} className="stack">
                    <Text weight="bold">{i.name}</Text>
                    <Text size="2" className="muted">{i.cost_points} points</Text>
                    <Button size="1" type="submit" disabled={wallet.points.balance < i.cost_points}>Redeem</Button>
                  </ActionForm>
                </Card>
              ))}
            </div>
          )}
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">Your rewards</Heading>
          {wallet.redemptions.length === 0 ? (
            <Text className="muted">Nothing redeemed yet.</Text>
          ) : (
            <SimpleTable
              label="Your rewards"
              columns={["Date", "Reward", "Status", "Code"]}
              rows={wallet.redemptions.map((r) => ({
                key: r.id,
                cells: [
                  day(r.created_at),
                  r.item,
                  <Badge key="s" color={statusColor[r.status] ?? "gray"}>{r.status}</Badge>,
                  (r.result as { promo_code?: string } | null)?.promo_code ?? r.error ?? "—",
                ],
              }))}
            />
          )}
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">Points history</Heading>
          {wallet.points.history.length === 0 ? (
            <Text className="muted">No points yet: you earn them when people you invite join and pay.</Text>
          ) : (
            <div data-testid="points-history">
              <SimpleTable
                label="Points history"
                columns={["Date", "Points", "Why"]}
                rows={wallet.points.history.map((h, i) => ({
                  key: `${h.created_at}-${i}`,
                  cells: [day(h.created_at), `${h.points > 0 ? "+" : ""}${h.points}`, h.memo ?? (h.type ?? "").toLowerCase().replace(/_/g, " ")],
                }))}
              />
            </div>
          )}
        </div>
      </Card>
    </>
  );
}
