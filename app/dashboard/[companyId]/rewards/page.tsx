import { Button, Card, Heading, Text } from "@whop/react/components";
import { ActionForm } from "@/app/_components/action-form";
import { day } from "@/app/_components/format";
import { SimpleTable } from "@/app/_components/table";
import { getRewardsAdmin } from "@/lib/points";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { createItemAction, fulfilRedemptionAction, grantPointsAction } from "../actions";

export const dynamic = "force-dynamic";

/** Rewards: the points shop (items), custom rewards to fulfil, and manual point grants. */
export default async function RewardsPage({ params }: { params: Promise<{ companyId: string }> }) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const r = await getRewardsAdmin(companyId);
  return (
    <>
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
              <option value="promo_code">promo code</option>
              <option value="free_access">free access</option>
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
