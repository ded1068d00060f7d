import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { InvalidQuery, Pager } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { companyCatalog, listCampaigns } from "@/lib/campaigns";
import { parseQuery, queryOf } from "@/lib/lists";
import { getRewardsAdmin } from "@/lib/points";
import { getProgram } from "@/lib/programs";
import { describeReward, listRewardRedemptions, listRewards, RedemptionStatus, type RewardData } from "@/lib/rewards";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { z } from "zod";
import { PlanOptions, PLANS_LIST } from "../campaigns/campaign-fields";
import { createItemAction, createRewardAction, fulfilGrantAction, fulfilRedemptionAction, grantPointsAction, retryGrantAction, setRewardActiveAction } from "./actions";

export const dynamic = "force-dynamic";

const GrantsQuery = z.object({ status: RedemptionStatus.optional(), after: z.string().max(200).optional() });

/**
 * Rewards: milestone rewards (unlocked at a number of referrals) and their grants, the
 * points shop (items), custom rewards to fulfil, and manual point grants.
 */
export default async function RewardsPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const path = `/dashboard/${companyId}/rewards`;
  const query = queryOf(await searchParams, ["status", "after"]);
  const { value, invalid } = parseQuery(GrantsQuery, query);
  const [r, program, milestones, grants, campaigns, catalog] = await Promise.all([
    getRewardsAdmin(companyId),
    getProgram(companyId),
    listRewards(companyId),
    listRewardRedemptions(companyId, value),
    listCampaigns(companyId, {}),
    companyCatalog(companyId),
  ]);
  const cur = program.currency;
  const open = campaigns.rows.filter((c) => c.status === "draft" || c.status === "active");
  return (
    <>
      <Card size="2">
        <div className="stack">
          <Heading size="4">Milestones</Heading>
          <Text size="2">
            <Link href={`/dashboard/${companyId}/rewards/challenges`}>Challenges: goals for a week, a month or your dates →</Link>
          </Text>
          <Text size="2" className="muted">
            A member unlocks a milestone when this many people they invited have paid (all-time, or within one campaign).
            Once granted, a reward is not taken back; a referral refunded in full before the reward was granted does not count.
            Referrals held or rejected by the fraud checks don&apos;t count either.
          </Text>
          {milestones.length === 0 ? (
            <Text className="muted">No milestones yet: add one below, like 200 points at 3 referrals or 50% off at 10.</Text>
          ) : (
            <SimpleTable
              label="Milestones"
              columns={["Milestone", "At", "Reward", "Counts", "Given", "Active", "Unlocked", ""]}
              rows={milestones.map((m) => ({
                key: m.id,
                cells: [
                  m.name,
                  `${m.threshold} referrals`,
                  describeReward(m.reward_type, m.reward_data as RewardData, cur),
                  m.campaign_name ? `in ${m.campaign_name}` : "all-time",
                  m.auto_apply ? "at once" : "member claims",
                  <Badge key="on" color={m.is_active ? "green" : "gray"}>{m.is_active ? "active" : "off"}</Badge>,
                  `${m.unlocked} member${m.unlocked === 1 ? "" : "s"}`,
                  <ActionForm key="a" action={setRewardActiveAction.bind(null, companyId, m.id, !m.is_active)} label={`${m.is_active ? "Switch off" : "Switch on"} ${m.name}`}>
                    <Button size="1" variant="soft" type="submit">{m.is_active ? "Switch off" : "Switch on"}</Button>
                  </ActionForm>,
                ],
              }))}
            />
          )}
          <ActionForm action={createRewardAction.bind(null, companyId)} label="New milestone" className="filters">
            <input className="select" name="name" placeholder="Milestone name" aria-label="Milestone name" />
            <input className="select" name="threshold" placeholder="Referrals needed" aria-label="Referrals needed" />
            <select className="select" name="reward_type" aria-label="Reward" defaultValue="points">
              <option value="points">points</option>
              <option value="discount">promo code</option>
              <option value="product_unlock">free access to a plan</option>
              <option value="custom">custom</option>
            </select>
            <input className="select" name="value" list={PLANS_LIST} placeholder="points, % off, a plan or what they get" aria-label="Reward value" />
            <select className="select" name="discount_kind" aria-label="Discount kind" defaultValue="percent">
              <option value="percent">% off</option>
              <option value="amount">{cur} off</option>
            </select>
            <select className="select" name="auto_apply" aria-label="Given" defaultValue="auto">
              <option value="auto">given at once</option>
              <option value="claim">member claims it</option>
            </select>
            <select className="select" name="campaign_id" aria-label="Counts" defaultValue="">
              <option value="">all-time referrals</option>
              {open.map((c) => <option key={c.id} value={c.id}>referrals in {c.name}</option>)}
            </select>
            <input className="select" name="description" placeholder="Description (optional)" aria-label="Milestone description" />
            <Button type="submit" variant="soft">Add milestone</Button>
            <PlanOptions catalog={catalog} />
          </ActionForm>
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">Reward grants</Heading>
          <form method="get" className="filters" aria-label="Filter grants">
            <select name="status" defaultValue={query.status ?? ""} className="select" aria-label="Grant status">
              <option value="">any status</option>
              {RedemptionStatus.options.map((s) => <option key={s}>{s}</option>)}
            </select>
            <Button size="1" type="submit" variant="soft">Filter</Button>
            <InvalidQuery invalid={invalid} />
          </form>
          {grants.rows.length === 0 ? (
            <Text className="muted">Nothing unlocked or won{query.status ? " with this status" : " yet"}.</Text>
          ) : (
            <SimpleTable
              label="Reward grants"
              columns={["Date", "Member", "Reward", "Status", "Code / error", ""]}
              rows={grants.rows.map((g) => ({
                key: g.id,
                cells: [
                  day(g.created_at),
                  g.member,
                  g.name,
                  <Badge key="s" color={statusColor[g.status] ?? "gray"}>{g.status === "pending" && !g.requested_at ? "waiting for claim" : g.status}</Badge>,
                  (g.result?.promo_code as string | undefined) ?? g.error_message ?? (g.reward_type === "custom" ? String(g.reward_data.note ?? "") : "—"),
                  g.status === "failed" ? (
                    <ActionForm key="r" action={retryGrantAction.bind(null, companyId, g.id)} label={`Retry ${g.name} for ${g.member}`}>
                      <Button size="1" type="submit">Retry</Button>
                    </ActionForm>
                  ) : g.status === "pending" && g.reward_type === "custom" && g.requested_at ? (
                    <ActionForm key="f" action={fulfilGrantAction.bind(null, companyId, g.id)} label={`Fulfil ${g.name} for ${g.member}`}>
                      <Button size="1" type="submit">Mark fulfilled</Button>
                    </ActionForm>
                  ) : (
                    ""
                  ),
                ],
              }))}
            />
          )}
          <Pager path={path} query={query} next={grants.next} shown={grants.rows.length} />
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">Points shop</Heading>
          {r.items.length === 0 ? (
            <Text className="muted">No rewards yet: add one below and members can redeem their points for it.</Text>
          ) : (
            <SimpleTable
              label="Rewards"
              columns={["Reward", "Cost", "Grants"]}
              rows={r.items.map((i) => ({ key: i.id, cells: [i.name, `${i.cost_points} points`, i.grant_type.replace("_", " ")] }))}
            />
          )}
          <ActionForm action={createItemAction.bind(null, companyId)} label="New reward" className="filters">
            <input className="select" name="name" placeholder="Reward name" aria-label="Reward name" />
            <input className="select" name="cost_points" placeholder="Cost (points)" aria-label="Cost (points)" />
            <select className="select" name="grant_type" aria-label="Grants">
              <option value="discount">promo code</option>
              <option value="product_unlock">free access</option>
              <option value="custom">custom</option>
            </select>
            <input className="select" name="percent_off" placeholder="% off (promo code)" aria-label="Percent off" />
            <input className="select" name="plan_id" placeholder="plan_… (free access)" aria-label="Plan id" />
            <input className="select" name="note" placeholder="Note (custom)" aria-label="Note" />
            <Button type="submit" variant="soft">Add reward</Button>
          </ActionForm>
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">To fulfil</Heading>
          {r.redemptions.length === 0 && <Text className="muted">No custom rewards waiting.</Text>}
          {r.redemptions.map((x) => (
            <ActionForm key={x.id} action={fulfilRedemptionAction.bind(null, companyId, x.id)} label={`Fulfil ${x.item} for ${x.member}`}>
              <Text size="2">
                {x.member} redeemed <strong>{x.item}</strong> on {day(x.created_at)}{x.note ? ` — ${x.note}` : ""}
              </Text>
              <Button size="1" type="submit">Mark fulfilled</Button>
            </ActionForm>
          ))}
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">Grant points</Heading>
          <ActionForm action={grantPointsAction.bind(null, companyId)} label="Grant points" className="filters">
            <input className="select" name="member" placeholder="username or user_…" aria-label="Member" />
            <input className="select" name="points" placeholder="points (negative deducts)" aria-label="Points" />
            <input className="select" name="reason" placeholder="Reason" aria-label="Reason" />
            <Button type="submit" variant="soft">Grant</Button>
          </ActionForm>
        </div>
      </Card>
    </>
  );
}
