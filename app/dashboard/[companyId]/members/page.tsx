import { Badge, Button, Card, Text } from "@whop/react/components";
import Link from "next/link";
import { InvalidQuery, hrefWith, Pager, SortLink } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { parseQuery, queryOf } from "@/lib/lists";
import { listMembers, MEMBER_SORTS, MemberQuery } from "@/lib/members";
import { formatMoney } from "@/lib/money";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

export const dynamic = "force-dynamic";

const COLUMNS: [string, (typeof MEMBER_SORTS)[number] | null][] = [
  ["Member", null], ["Code", null], ["Clicks", "clicks"], ["Signups", "signups"], ["Conversions", "conversions"],
  ["Active", "active_referrals"], ["Revenue", "revenue"], ["Earned", "earned"], ["Paid", "paid"], ["Available", "available"], ["Points", null],
];

/** Members: everyone with a code or a referral, searchable, sortable by each counter, 50 a page. */
export default async function MembersPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const path = `/dashboard/${companyId}/members`;
  const query = queryOf(await searchParams, ["q", "sort", "dir", "after"]);
  const { value, invalid } = parseQuery(MemberQuery, query);
  const [page, program] = await Promise.all([listMembers(companyId, value), getProgram(companyId)]);
  const money = (v: number) => formatMoney(v, program.currency);
  return (
    <Card size="2">
      <div className="stack">
        <form method="get" className="filters" aria-label="Search members">
          <input className="select" name="q" placeholder="Username or code" defaultValue={query.q ?? ""} aria-label="Search" />
          <Button size="1" type="submit" variant="soft">Search</Button>
          {query.q && <Link href={path}>Clear</Link>}
          <Button asChild size="1" variant="ghost">
            <a href={hrefWith(`/dashboard/${companyId}/export/members`, query, { after: null })}>Export CSV</a>
          </Button>
          <Link href={`${path}/leaderboard`}>Leaderboard →</Link>
          <InvalidQuery invalid={invalid} />
        </form>
        {page.rows.length === 0 ? (
          <Text className="muted">{query.q ? "No member matches this search." : "No members yet: they appear when they open the app or are referred."}</Text>
        ) : (
          <div className="table-scroll">
            <SimpleTable
              label="Members"
              columns={COLUMNS.map(([t]) => t)}
              header={COLUMNS.map(([t, s]) => (s ? <SortLink key={t} path={path} query={query} sort={s} title={t} defaultSort="conversions" /> : t))}
              rows={page.rows.map((m) => ({
                key: m.user_id,
                cells: [
                  <Link key="u" href={`${path}/${encodeURIComponent(m.user_id)}`}>{m.username}</Link>,
                  m.code ? (
                    <span key="c">
                      {m.code} {m.code_active === false && <Badge color="gray">off</Badge>}
                    </span>
                  ) : (
                    "—"
                  ),
                  m.clicks, m.signups, m.conversions, m.active_referrals,
                  money(m.revenue_cents), money(m.earned_cents), money(m.paid_cents), money(m.available_cents), m.points,
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
