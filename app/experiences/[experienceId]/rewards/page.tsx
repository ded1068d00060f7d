import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { SimpleTable } from "@/app/_components/table";
import { getMemberWallet } from "@/lib/commissions";
import { requireExperienceViewer } from "@/lib/whop/viewer";
import { redeemAction } from "../actions";

export const dynamic = "force-dynamic";

/** Member Rewards: points balance, what they can redeem, their redemptions and points history. */
export default async function RewardsPage({ params }: { params: Promise<{ experienceId: string }> }) {
  const { experienceId } = await params;
  const viewer = await requireExperienceViewer(experienceId);
  const wallet = await getMemberWallet(viewer.companyId, viewer.userId);
  return (
    <>
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
