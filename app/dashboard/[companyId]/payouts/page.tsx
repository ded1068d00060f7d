import { Badge, Button, Card, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { hrefWith, InvalidQuery, Pager, SortLink } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { parseQuery, queryOf } from "@/lib/lists";
import { formatMoney } from "@/lib/money";
import { listPayouts, PayoutQuery, PayoutStatus } from "@/lib/payouts";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { payoutAction } from "./actions";

export const dynamic = "force-dynamic";

/** Payouts: the queue (approve & pay, retry, cancel) and the history, filtered by status and member. */
export default async function PayoutsPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const base = `/dashboard/${companyId}`;
  const path = `${base}/payouts`;
  const query = queryOf(await searchParams, ["status", "member", "sort", "dir", "after"]);
  const { value, invalid } = parseQuery(PayoutQuery, query);
  const page = await listPayouts(companyId, value);
  const sort = (s: string, t: string) => <SortLink path={path} query={query} sort={s} title={t} defaultSort="requested" />;
  return (
    <Card size="2">
      <div className="stack">
        <form method="get" className="filters" aria-label="Filter payouts">
          <select name="status" defaultValue={query.status ?? ""} className="select" aria-label="Status">
            <option value="">any status</option>
            {PayoutStatus.options.map((s) => <option key={s}>{s}</option>)}
          </select>
          <input className="select" name="member" placeholder="Member" defaultValue={query.member ?? ""} aria-label="Member" />
          <Button size="1" type="submit" variant="soft">Filter</Button>
          <Button asChild size="1" variant="ghost">
            <a href={hrefWith(`${base}/export/payouts`, query, { after: null })}>Export CSV</a>
          </Button>
          <InvalidQuery invalid={invalid} />
        </form>
        {page.rows.length === 0 ? (
          <Text className="muted">No payouts{Object.keys(query).length ? " match these filters" : " yet: members request them from their earnings"}.</Text>
        ) : (
          <div className="table-scroll">
            <SimpleTable
              label="Payouts"
              columns={["Requested", "Member", "Amount", "Status", "Actions"]}
              header={[sort("requested", "Requested"), "Member", sort("amount", "Amount"), "Status", "Actions"]}
              rows={page.rows.map((o) => ({
                key: o.id,
                cells: [
                  day(o.requested_at),
                  <Link key="m" href={`${base}/members/${encodeURIComponent(o.user_id)}`}>{o.member}</Link>,
                  formatMoney(o.amount_cents, o.currency),
                  <span key="s">
                    <Badge color={statusColor[o.status] ?? "gray"}>{o.status}</Badge>
                    {o.error && <Text size="1" className="field-error"> {o.error}</Text>}
                  </span>,
                  (o.status === "requested" || o.status === "failed") && (
                    <div key="a" className="row">
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
          </div>
        )}
        <Pager path={path} query={query} next={page.next} shown={page.rows.length} />
      </div>
    </Card>
  );
}
