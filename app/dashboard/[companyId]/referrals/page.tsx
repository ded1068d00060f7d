import { Badge, Button, Card, Text } from "@whop/react/components";
import Link from "next/link";
import { day, statusColor } from "@/app/_components/format";
import { hrefWith, InvalidQuery, Pager, SortLink } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { parseQuery, queryOf } from "@/lib/lists";
import { listReferrals, ReferralQuery, ReferralStatus } from "@/lib/referrals";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

export const dynamic = "force-dynamic";

/** Referrals: filter by status and referrer, sort by created or converted date, 50 a page. */
export default async function ReferralsPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const base = `/dashboard/${companyId}`;
  const path = `${base}/referrals`;
  const query = queryOf(await searchParams, ["status", "member", "sort", "dir", "after"]);
  const { value, invalid } = parseQuery(ReferralQuery, query);
  const page = await listReferrals(companyId, value);
  const sort = (s: string, t: string) => <SortLink path={path} query={query} sort={s} title={t} defaultSort="created" />;
  return (
    <Card size="2">
      <div className="stack">
        <form method="get" className="filters" aria-label="Filter referrals">
          <select name="status" defaultValue={query.status ?? ""} className="select" aria-label="Status">
            <option value="">any status</option>
            {ReferralStatus.options.map((s) => <option key={s}>{s}</option>)}
          </select>
          <input className="select" name="member" placeholder="Referrer" defaultValue={query.member ?? ""} aria-label="Referrer" />
          <Button size="1" type="submit" variant="soft">Filter</Button>
          <Button asChild size="1" variant="ghost">
            <a href={hrefWith(`${base}/export/referrals`, query, { after: null })}>Export CSV</a>
          </Button>
          <InvalidQuery invalid={invalid} />
        </form>
        {page.rows.length === 0 ? (
          <Text className="muted">No referrals{Object.keys(query).length ? " match these filters" : " yet"}.</Text>
        ) : (
          <div className="table-scroll">
            <SimpleTable
              label="Referrals"
              columns={["Referrer", "Referee", "Status", "Source", "Created", "Converted"]}
              header={["Referrer", "Referee", "Status", "Source", sort("created", "Created"), sort("converted", "Converted")]}
              rows={page.rows.map((r) => ({
                key: r.id,
                cells: [
                  <Link key="r" href={`${base}/members/${encodeURIComponent(r.referrer_user_id)}`}>{r.referrer}</Link>,
                  r.referee,
                  <Badge key="s" color={statusColor[r.status] ?? "gray"}>{r.status === "converted" && !r.active ? "converted · inactive" : r.status}</Badge>,
                  r.source,
                  day(r.created_at),
                  r.converted_at ? day(r.converted_at) : "—",
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
