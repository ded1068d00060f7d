import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import { ActionForm } from "@/app/_components/action-form";
import { day, memberStatus, statusColor } from "@/app/_components/format";
import { Pager } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { getMemberWallet, listCommissions, rateLabel } from "@/lib/commissions";
import { queryOf } from "@/lib/lists";
import { formatMoney } from "@/lib/money";
import { requireExperienceViewer } from "@/lib/whop/viewer";
import { requestPayoutAction } from "../actions";

export const dynamic = "force-dynamic";

/**
 * Member Earnings: one balance (pending with release dates, available, paid, reversed, and
 * what is under review), payouts, commissions. A commission held by the fraud checks is
 * "Under review": the member is never told which signal fired.
 */
export default async function EarningsPage({
  params,
  searchParams,
}: {
  params: Promise<{ experienceId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { experienceId } = await params;
  const viewer = await requireExperienceViewer(experienceId);
  const query = queryOf(await searchParams, ["after"]);
  const [wallet, commissions] = await Promise.all([
    getMemberWallet(viewer.companyId, viewer.userId),
    // the member's own commissions only: the filter is their verified user id
    listCommissions(viewer.companyId, { member: viewer.userId, after: query.after }, 20),
  ]);
  const cur = wallet.currency;
  const money = (v: number) => formatMoney(v, cur);
  return (
    <>
      <Card size="2">
        <div className="stack">
          <Heading size="4">Your balance ({cur})</Heading>
          <section className="grid" aria-label="Balance">
            <Money label="Pending" value={money(wallet.balances.pending)} testId="balance-pending" hint="In the hold period" />
            <Money label="Available" value={money(wallet.balances.available)} testId="balance-available" hint="Ready to withdraw" />
            <Money label="Paid" value={money(wallet.balances.paid)} testId="balance-paid" hint="Sent to your Whop balance" />
            <Money label="Reversed" value={money(wallet.balances.reversed)} testId="balance-reversed" hint="Taken back by refunds" />
            {wallet.balances.on_hold > 0 && (
              <Money label="Under review" value={money(wallet.balances.on_hold)} testId="balance-under-review" hint="The creator is checking these referrals" />
            )}
          </section>
          {wallet.upcoming.length > 0 && (
            <Text size="2" className="muted" data-testid="upcoming">
              Becomes available: {wallet.upcoming.map((u) => `${money(u.amount_cents)} on ${day(u.available_at)}`).join(" · ")}
            </Text>
          )}
          <ActionForm action={requestPayoutAction.bind(null, experienceId)} label="Request payout">
            <Button type="submit" disabled={!wallet.payout.can_request}>
              Request payout of {money(Math.max(wallet.payout.available_cents, 0))}
            </Button>
            {!wallet.payout.can_request && (
              <Text size="2" className="muted" data-testid="payout-reason">
                {wallet.payout.reason}
                {wallet.payout.reason === "Below the minimum payout" && ` of ${money(wallet.payout.min_payout_cents)}`}
              </Text>
            )}
          </ActionForm>
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Payouts</Heading>
          {wallet.payouts.length === 0 ? (
            <Text className="muted">No payouts yet.</Text>
          ) : (
            <SimpleTable
              label="Payout history"
              columns={["Requested", "Amount", "Status"]}
              rows={wallet.payouts.map((o) => ({
                key: o.id,
                cells: [day(o.requested_at), formatMoney(o.amount_cents, o.currency), <Badge key="s" color={statusColor[o.status] ?? "gray"}>{o.status}</Badge>],
              }))}
            />
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Commissions</Heading>
          {commissions.rows.length === 0 ? (
            <Text className="muted">No commissions yet — they appear when someone pays through your link.</Text>
          ) : (
            <div className="table-scroll">
              <SimpleTable
                label="Your commissions"
                columns={["Date", "Level", "Rate", "Amount", "Status"]}
                rows={commissions.rows.map((c) => ({
                  key: c.id,
                  cells: [
                    day(c.created_at),
                    c.kind === "clawback" ? "refund" : c.kind === "bonus" ? "campaign prize" : c.level,
                    rateLabel(c),
                    formatMoney(c.amount_cents - c.reversed_cents, c.currency),
                    <Badge key="s" color={statusColor[c.status] ?? "gray"}>{memberStatus(c.status)}</Badge>,
                  ],
                }))}
              />
            </div>
          )}
          <Pager path={`/experiences/${experienceId}/earnings`} query={query} next={commissions.next} shown={commissions.rows.length} />
        </div>
      </Card>
    </>
  );
}

function Money({ label, value, testId, hint }: { label: string; value: string; testId: string; hint: string }) {
  return (
    <div className="stat">
      <Text size="2" className="muted">{label}</Text>
      <span className="stat-value" data-testid={testId}>{value}</span>
      <Text size="1" className="muted">{hint}</Text>
    </div>
  );
}
