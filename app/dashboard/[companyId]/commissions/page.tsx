import { Badge, Button, Card, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { hrefWith, InvalidQuery, Pager, SortLink } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { CommissionQuery, CommissionStatus, listCommissions, rateLabel } from "@/lib/commissions";
import { parseQuery, queryOf } from "@/lib/lists";
import { formatMoney } from "@/lib/money";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { decideCommissionAction } from "./actions";

export const dynamic = "force-dynamic";

/** Commissions: filters (status, level, member, dates), sort by date or amount, approve / cancel with a reason. */
export default async function CommissionsPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const base = `/dashboard/${companyId}`;
  const path = `${base}/commissions`;
  const query = queryOf(await searchParams, ["status", "level", "kind", "member", "from", "to", "sort", "dir", "after"]);
  const { value, invalid } = parseQuery(CommissionQuery, query);
  const page = await listCommissions(companyId, value);
  const sort = (s: string, t: string) => <SortLink path={path} query={query} sort={s} title={t} defaultSort="created" />;
  return (
    <Card size="2">
      <div className="stack">
        <form className="filters" aria-label="Filter commissions" method="get">
          <select name="status" defaultValue={query.status ?? ""} className="select" aria-label="Status">
            <option value="">any status</option>
            {CommissionStatus.options.map((s) => <option key={s}>{s}</option>)}
          </select>
          <select name="level" defaultValue={query.level ?? ""} className="select" aria-label="Level">
            <option value="">any level</option>
            {[1, 2, 3, 4, 5].map((l) => <option key={l}>{l}</option>)}
          </select>
          <input className="select" name="member" placeholder="Member" defaultValue={query.member ?? ""} aria-label="Member" />
          <input className="select" type="date" name="from" defaultValue={query.from ?? ""} aria-label="From" />
          <input className="select" type="date" name="to" defaultValue={query.to ?? ""} aria-label="To" />
          <Button size="1" type="submit" variant="soft">Filter</Button>
          <Button asChild size="1" variant="ghost">
            <a href={hrefWith(`${base}/export/commissions`, query, { after: null })}>Export CSV</a>
          </Button>
          <InvalidQuery invalid={invalid} />
        </form>
        {page.rows.length === 0 ? (
          <Text className="muted">No commissions{Object.keys(query).length ? " match these filters" : " yet"}.</Text>
        ) : (
          <div className="table-scroll">
            <SimpleTable
              label="Commissions"
              columns={["Date", "Member", "Level", "Payment", "Rate", "Amount", "Status", "Available", "Decide"]}
              header={[sort("created", "Date"), "Member", "Level", "Payment", "Rate", sort("amount", "Amount"), "Status", "Available", "Decide"]}
              rows={page.rows.map((c) => ({
                key: c.id,
                cells: [
                  day(c.created_at),
                  <Link key="m" href={`${base}/members/${encodeURIComponent(c.beneficiary_user_id)}`}>{c.beneficiary}</Link>,
                  c.kind === "clawback" ? "clawback" : c.kind === "bonus" ? "campaign prize" : c.level,
                  c.kind === "commission" ? formatMoney(c.base_amount_cents, c.currency) : c.reason,
                  rateLabel(c),
                  <span key="a">
                    {formatMoney(c.amount_cents - c.reversed_cents, c.currency)}
                    {c.reversed_cents > 0 && <Text size="1" className="muted"> (of {formatMoney(c.amount_cents, c.currency)})</Text>}
                  </span>,
                  <Badge key="s" color={statusColor[c.status] ?? "gray"}>{c.status}</Badge>,
                  day(c.available_at),
                  c.kind === "commission" && ["pending", "on_hold", "available"].includes(c.status) && (
                    <div key="d" className="row">
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
          </div>
        )}
        <Pager path={path} query={query} next={page.next} shown={page.rows.length} />
      </div>
    </Card>
  );
}
