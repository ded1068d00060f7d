import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { z } from "zod";
import { ActionForm } from "@/app/_components/action-form";
import { day } from "@/app/_components/format";
import { InvalidQuery, Pager } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { companyCatalog } from "@/lib/campaigns";
import { listChallenges } from "@/lib/gamification";
import { parseQuery, queryOf } from "@/lib/lists";
import { getProgram } from "@/lib/programs";
import { describeReward, type RewardData } from "@/lib/rewards";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { PlanOptions, PLANS_LIST } from "../../campaigns/campaign-fields";
import { createChallengeAction, stopChallengeAction } from "./actions";

export const dynamic = "force-dynamic";

const STATUS_COLOR = { scheduled: "blue", running: "green", ended: "gray", stopped: "gray" } as const;

/**
 * Challenges (table referral_challenges): goals members reach in a window ("refer 5 this
 * month"), each member with their own progress; reaching the target grants the reward once.
 */
export default async function ChallengesPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const path = `/dashboard/${companyId}/rewards/challenges`;
  const query = queryOf(await searchParams, ["after"]);
  const { value, invalid } = parseQuery(z.object({ after: z.string().max(200).optional() }), query);
  const [program, list, catalog] = await Promise.all([getProgram(companyId), listChallenges(companyId, value.after ?? null), companyCatalog(companyId)]);
  const cur = program.currency;
  return (
    <Card size="2">
      <div className="stack">
        <Text size="2">
          <Link href={`/dashboard/${companyId}/rewards`}>← Rewards</Link>
        </Text>
        <Heading size="4">Challenges</Heading>
        <Text size="2" className="muted">
          A challenge asks for a number of conversions in a window — this week, this month or your dates. Every member who converts in it has their own
          progress on their Home; reaching the target gives the reward once. Only counted conversions move it (not held, rejected or fully refunded
          ones).
        </Text>
        <InvalidQuery invalid={invalid} />
        {list.rows.length === 0 ? (
          <Text className="muted">No challenges yet: add one below, like “Refer 5 this month” for 500 points.</Text>
        ) : (
          <SimpleTable
            label="Challenges"
            columns={["Challenge", "Target", "Window", "Reward", "Status", "Members in it", "Completed", ""]}
            rows={list.rows.map((c) => ({
              key: c.id,
              cells: [
                c.challenge_name,
                `${c.target_referrals} conversions`,
                `${day(c.starts_at)} – ${day(new Date(Date.parse(c.ends_at) - 1).toISOString())}`,
                describeReward(c.reward_type, c.reward_data as RewardData, cur),
                <Badge key="s" color={STATUS_COLOR[c.status]}>{c.status}</Badge>,
                String(c.participants),
                String(c.completed),
                c.status === "running" || c.status === "scheduled" ? (
                  <ActionForm key="a" action={stopChallengeAction.bind(null, companyId, c.id)} label={`Stop ${c.challenge_name}`}>
                    <Button size="1" variant="soft" color="red" type="submit">Stop</Button>
                  </ActionForm>
                ) : (
                  ""
                ),
              ],
            }))}
          />
        )}
        <Pager path={path} query={query} next={list.next} shown={list.rows.length} />
        <ActionForm action={createChallengeAction.bind(null, companyId)} label="New challenge" className="filters">
          <input className="select" name="challenge_name" placeholder="Challenge name" aria-label="Challenge name" />
          <input className="select" name="target_referrals" placeholder="Conversions to reach" aria-label="Conversions to reach" />
          <select className="select" name="period" aria-label="Window" defaultValue="month">
            <option value="week">this week</option>
            <option value="month">this month</option>
            <option value="dates">these dates</option>
          </select>
          <input className="select" name="starts_at" placeholder="Start (YYYY-MM-DD), for dates" aria-label="Start" />
          <input className="select" name="ends_at" placeholder="End (YYYY-MM-DD), for dates" aria-label="End" />
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
          <Button type="submit" variant="soft">Add challenge</Button>
          <PlanOptions catalog={catalog} />
        </ActionForm>
      </div>
    </Card>
  );
}
