import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import { z } from "zod";
import { ActionForm } from "@/app/_components/action-form";
import { Stat } from "@/app/_components/stat";
import { SimpleTable } from "@/app/_components/table";
import { getCreatorView } from "@/lib/analytics";
import { CommissionFilter, listCommissions } from "@/lib/commissions";
import { rpc } from "@/lib/db";
import { basisPointsToPercent, formatMoney } from "@/lib/money";
import { settingsFormValues } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { createItemAction, decideCommissionAction, fulfilRedemptionAction, grantPointsAction, payoutAction } from "./actions";
import { SettingsForm } from "./settings-form";

export const dynamic = "force-dynamic";

const dateFmt = (iso: string) => new Date(iso).toLocaleDateString("en-US", { dateStyle: "medium" });
const statusColor: Record<string, "green" | "blue" | "amber" | "gray" | "red" | "orange"> = {
  converted: "green", paid: "green", completed: "green", granted: "green",
  available: "blue", processing: "blue",
  pending: "amber", requested: "amber", on_hold: "orange",
  expired: "gray", reversed: "gray", cancelled: "gray", failed: "red",
};

const CreatorMoney = z.object({
  payouts: z.array(
    z.object({
      id: z.uuid(),
      member: z.string(),
      amount_cents: z.number().int(),
      currency: z.string(),
      status: z.string(),
      error: z.string().nullable(),
      whop_transfer_id: z.string().nullable(),
      attempts: z.number().int(),
      requested_at: z.string(),
    }),
  ),
  items: z.array(z.object({ id: z.uuid(), name: z.string(), cost_points: z.number().int(), grant_type: z.string() })),
  redemptions: z.array(z.object({ id: z.uuid(), member: z.string(), item: z.string(), note: z.string().nullable(), created_at: z.string() })),
});

/** Creator dashboard (Whop "Dashboard path", admins only). */
export default async function DashboardPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const sp = await searchParams;
  const filterInput = Object.fromEntries(
    ["status", "level", "member", "from", "to"].flatMap((k) => (typeof sp[k] === "string" && sp[k] !== "" ? [[k, sp[k]]] : [])),
  );
  const filter = CommissionFilter.safeParse(filterInput);
  const [view, commissions, money] = await Promise.all([
    getCreatorView(companyId),
    listCommissions(companyId, filter.success ? filter.data : {}),
    rpc("get_creator_money", { p_company_id: companyId }, CreatorMoney),
  ]);
  const p = view.program;
  const totals = view.money.length
    ? view.money
    : [{ currency: p.currency, revenue_cents: 0, commissions_owed_cents: 0, commissions_paid_cents: 0 }];

  return (
    <>
      <Heading size="7">Referral program</Heading>
      <section className="grid" aria-label="Totals">
        <Stat label="Clicks" value={String(view.totals.clicks)} testId="total-clicks" />
        <Stat label="Conversions" value={String(view.totals.conversions)} testId="total-conversions" />
        {totals.map((m) => (
          <Stat key={`rev-${m.currency}`} label={`Revenue attributed (${m.currency})`} value={formatMoney(m.revenue_cents, m.currency)} testId="total-revenue" />
        ))}
        {totals.map((m) => (
          <Stat key={`owed-${m.currency}`} label={`Commissions owed (${m.currency})`} value={formatMoney(m.commissions_owed_cents, m.currency)} testId="total-owed" />
        ))}
      </section>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Payout queue</Heading>
          {money.payouts.length === 0 ? (
            <Text className="muted">No payout requests yet.</Text>
          ) : (
            <SimpleTable
              label="Payouts"
              columns={["Member", "Amount", "Status", "Requested", "Actions"]}
              rows={money.payouts.map((o) => ({
                key: o.id,
                cells: [
                  o.member,
                  formatMoney(o.amount_cents, o.currency),
                  <>
                    <Badge color={statusColor[o.status] ?? "gray"}>{o.status}</Badge>
                    {o.error && <Text size="1" className="field-error"> {o.error}</Text>}
                  </>,
                  dateFmt(o.requested_at),
                  (o.status === "requested" || o.status === "failed") && (
                    <div className="row">
                      <ActionForm action={payoutAction.bind(null, companyId, o.id, "pay")} label={`Pay ${o.member}`} className="inline-form">
                        <Button size="1" type="submit">{o.status === "failed" ? "Retry" : "Approve & pay"}</Button>
                      </ActionForm>
                      <ActionForm action={payoutAction.bind(null, companyId, o.id, "cancel")} label={`Cancel payout of ${o.member}`} className="inline-form">
                        <input name="reason" placeholder="Reason" aria-label="Reason" />
                        <Button size="1" variant="soft" color="red" type="submit">Cancel</Button>
                      </ActionForm>
                    </div>
                  ),
                ],
              }))}
            />
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Commissions</Heading>
          <form className="row" aria-label="Filter commissions" method="get">
            <select name="status" defaultValue={filterInput.status ?? ""} className="select" aria-label="Status">
              <option value="">any status</option>
              {["pending", "available", "paid", "on_hold", "reversed", "cancelled"].map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
            <select name="level" defaultValue={filterInput.level ?? ""} className="select" aria-label="Level">
              <option value="">any level</option>
              {[1, 2, 3, 4, 5].map((l) => (
                <option key={l}>{l}</option>
              ))}
            </select>
            <input className="select" name="member" placeholder="member" defaultValue={filterInput.member ?? ""} aria-label="Member" />
            <input className="select" type="date" name="from" defaultValue={filterInput.from ?? ""} aria-label="From" />
            <input className="select" type="date" name="to" defaultValue={filterInput.to ?? ""} aria-label="To" />
            <Button type="submit" variant="soft">Filter</Button>
            {!filter.success && <span className="field-error" role="alert">Some filters were not understood and were ignored.</span>}
          </form>
          {commissions.length === 0 ? (
            <Text className="muted">No commissions{Object.keys(filterInput).length ? " match these filters" : " yet"}.</Text>
          ) : (
            <SimpleTable
              label="Commissions"
              columns={["Member", "Level", "Payment", "Rate", "Amount", "Status", "Available", "Decide"]}
              rows={commissions.map((c) => ({
                key: c.id,
                cells: [
                  c.beneficiary,
                  c.kind === "clawback" ? "clawback" : c.level,
                  c.kind === "clawback" ? c.reason : formatMoney(c.base_amount_cents, c.currency),
                  c.rate_bp ? `${basisPointsToPercent(c.rate_bp)}%` : "flat",
                  <>
                    {formatMoney(c.amount_cents - c.reversed_cents, c.currency)}
                    {c.reversed_cents > 0 && <Text size="1" className="muted"> (of {formatMoney(c.amount_cents, c.currency)})</Text>}
                  </>,
                  <Badge color={statusColor[c.status] ?? "gray"}>{c.status}</Badge>,
                  dateFmt(c.available_at),
                  c.kind === "commission" && ["pending", "on_hold", "available"].includes(c.status) && (
                    <div className="row">
                      {c.status !== "available" && (
                        <ActionForm action={decideCommissionAction.bind(null, companyId, c.id, "approve")} label="Approve commission" className="inline-form">
                          <input name="reason" placeholder="Reason" aria-label="Reason" required />
                          <Button size="1" type="submit">Approve</Button>
                        </ActionForm>
                      )}
                      <ActionForm action={decideCommissionAction.bind(null, companyId, c.id, "cancel")} label="Cancel commission" className="inline-form">
                        <input name="reason" placeholder="Reason" aria-label="Reason" required />
                        <Button size="1" variant="soft" color="red" type="submit">Cancel</Button>
                      </ActionForm>
                    </div>
                  ),
                ],
              }))}
            />
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Points</Heading>
          {money.items.length > 0 && (
            <Text size="2">
              Rewards: {money.items.map((i) => `${i.name} (${i.cost_points} pts, ${i.grant_type.replace("_", " ")})`).join(" · ")}
            </Text>
          )}
          {money.redemptions.map((r) => (
            <ActionForm key={r.id} action={fulfilRedemptionAction.bind(null, companyId, r.id)} label={`Fulfil ${r.item} for ${r.member}`}>
              <Text size="2">
                {r.member} redeemed <strong>{r.item}</strong> on {dateFmt(r.created_at)}{r.note ? ` — ${r.note}` : ""}
              </Text>
              <Button size="1" type="submit">Mark fulfilled</Button>
            </ActionForm>
          ))}
          <ActionForm action={createItemAction.bind(null, companyId)} label="New reward">
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
          <ActionForm action={grantPointsAction.bind(null, companyId)} label="Grant points">
            <input className="select" name="member" placeholder="username or user_…" aria-label="Member" />
            <input className="select" name="points" placeholder="points (negative deducts)" aria-label="Points" />
            <input className="select" name="reason" placeholder="Reason" aria-label="Reason" />
            <Button type="submit" variant="soft">Grant</Button>
          </ActionForm>
        </div>
      </Card>

      <Card size="3">
        <div className="stack">
          <Heading size="4">Settings</Heading>
          <SettingsForm companyId={companyId} values={settingsFormValues(p)} />
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Referrals</Heading>
          {view.referrals.length === 0 ? (
            <Text className="muted">No referrals yet.</Text>
          ) : (
            <SimpleTable
              label="Referrals"
              columns={["Referrer", "Referee", "Status", "Source", "Created"]}
              rows={view.referrals.map((r) => ({
                key: r.id,
                cells: [r.referrer, r.referee, <Badge color={statusColor[r.status] ?? "gray"}>{r.status}</Badge>, r.source, dateFmt(r.created_at)],
              }))}
            />
          )}
        </div>
      </Card>
    </>
  );
}
