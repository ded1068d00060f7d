import { Badge, Card, Heading, Table, Text } from "@whop/react/components";
import { Stat } from "@/app/_components/stat";
import { getCreatorView } from "@/lib/analytics";
import { basisPointsToPercent, centsToDecimal, formatMoney } from "@/lib/money";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { SettingsForm } from "./settings-form";

export const dynamic = "force-dynamic";

const dateFmt = (iso: string) => new Date(iso).toLocaleDateString("en-US", { dateStyle: "medium" });

/** Creator dashboard (Whop "Dashboard path", admins only). */
export default async function DashboardPage({ params }: { params: Promise<{ companyId: string }> }) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const view = await getCreatorView(companyId);
  const p = view.program;
  const money = view.money.length
    ? view.money
    : [{ currency: p.currency, revenue_cents: 0, commissions_owed_cents: 0, commissions_paid_cents: 0 }];

  return (
    <>
      <Heading size="7">Referral program</Heading>
      <section className="grid" aria-label="Totals">
        <Stat label="Clicks" value={String(view.totals.clicks)} testId="total-clicks" />
        <Stat label="Conversions" value={String(view.totals.conversions)} testId="total-conversions" />
        {money.map((m) => (
          <Stat key={`rev-${m.currency}`} label={`Revenue attributed (${m.currency})`} value={formatMoney(m.revenue_cents, m.currency)} testId="total-revenue" />
        ))}
        {money.map((m) => (
          <Stat key={`owed-${m.currency}`} label={`Commissions owed (${m.currency})`} value={formatMoney(m.commissions_owed_cents, m.currency)} testId="total-owed" />
        ))}
      </section>

      <Card size="3">
        <div className="stack">
          <Heading size="4">Settings</Heading>
          <SettingsForm
            companyId={companyId}
            values={{
              commission_percent: basisPointsToPercent(p.commission_rate_bp),
              hold_days: String(p.hold_days),
              min_payout: centsToDecimal(p.min_payout_cents, p.currency),
              plan_id: p.plan_id ?? "",
              landing_url: p.landing_url ?? "",
            }}
          />
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Referrals</Heading>
          {view.referrals.length === 0 ? (
            <Text className="muted">No referrals yet.</Text>
          ) : (
            <Table.Root>
              <Table.Table aria-label="Referrals">
                <Table.Header>
                  <Table.Row>
                    <Table.ColumnHeaderCell>Referrer</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Referee</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Status</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Source</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Created</Table.ColumnHeaderCell>
                  </Table.Row>
                </Table.Header>
                <Table.Body>
                  {view.referrals.map((r) => (
                    <Table.Row key={r.id}>
                      <Table.Cell>{r.referrer}</Table.Cell>
                      <Table.Cell>{r.referee}</Table.Cell>
                      <Table.Cell>
                        <Badge color={r.status === "converted" ? "green" : r.status === "pending" ? "amber" : "gray"}>{r.status}</Badge>
                      </Table.Cell>
                      <Table.Cell>{r.source}</Table.Cell>
                      <Table.Cell>{dateFmt(r.created_at)}</Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table.Table>
            </Table.Root>
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Commissions</Heading>
          {view.commissions.length === 0 ? (
            <Text className="muted">No commissions yet.</Text>
          ) : (
            <Table.Root>
              <Table.Table aria-label="Commissions">
                <Table.Header>
                  <Table.Row>
                    <Table.ColumnHeaderCell>Member</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Payment</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Rate</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Amount</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Status</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Available</Table.ColumnHeaderCell>
                  </Table.Row>
                </Table.Header>
                <Table.Body>
                  {view.commissions.map((c) => (
                    <Table.Row key={c.id}>
                      <Table.Cell>{c.beneficiary}</Table.Cell>
                      <Table.Cell>{formatMoney(c.base_amount_cents, c.currency)}</Table.Cell>
                      <Table.Cell>{basisPointsToPercent(c.rate_bp)}%</Table.Cell>
                      <Table.Cell>{formatMoney(c.amount_cents, c.currency)}</Table.Cell>
                      <Table.Cell>
                        <Badge color={c.status === "paid" ? "green" : c.status === "available" ? "blue" : "amber"}>{c.status}</Badge>
                      </Table.Cell>
                      <Table.Cell>{dateFmt(c.available_at)}</Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table.Table>
            </Table.Root>
          )}
        </div>
      </Card>
    </>
  );
}
