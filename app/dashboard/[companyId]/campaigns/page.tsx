import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { InvalidQuery, Pager } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { CampaignStatus, companyCatalog, lastDayOf, listCampaigns } from "@/lib/campaigns";
import { parseQuery, queryOf } from "@/lib/lists";
import { basisPointsToPercent } from "@/lib/money";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { z } from "zod";
import { createCampaignAction } from "./actions";
import { CampaignFields } from "./campaign-fields";

export const dynamic = "force-dynamic";

const Query = z.object({ status: CampaignStatus.optional(), after: z.string().max(200).optional() });

/** Campaigns: every campaign by status (dates in the program's time zone), and a new one. */
export default async function CampaignsPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const base = `/dashboard/${companyId}`;
  const path = `${base}/campaigns`;
  const query = queryOf(await searchParams, ["status", "after"]);
  const { value, invalid } = parseQuery(Query, query);
  const [program, page, catalog] = await Promise.all([getProgram(companyId), listCampaigns(companyId, value), companyCatalog(companyId)]);
  const tz = program.timezone;
  return (
    <>
      <Card size="2">
        <div className="stack">
          <form method="get" className="filters" aria-label="Filter campaigns">
            <select name="status" defaultValue={query.status ?? ""} className="select" aria-label="Status">
              <option value="">any status</option>
              {CampaignStatus.options.map((s) => <option key={s}>{s}</option>)}
            </select>
            <Button size="1" type="submit" variant="soft">Filter</Button>
            <InvalidQuery invalid={invalid} />
          </form>
          {page.rows.length === 0 ? (
            <Text className="muted">No campaigns{query.status ? " with this status" : " yet: create one below to reward referrals for a limited time"}.</Text>
          ) : (
            <SimpleTable
              label="Campaigns"
              columns={["Campaign", "Status", "Runs", "Bonus", "Referrals"]}
              rows={page.rows.map((c) => ({
                key: c.id,
                cells: [
                  <Link key="n" href={`${path}/${c.id}`}>{c.name}</Link>,
                  <Badge key="s" color={statusColor[c.status] ?? "gray"}>{c.status === "draft" && c.scheduled ? "scheduled" : c.status}</Badge>,
                  `${day(c.start_date, tz)} – ${day(lastDayOf(c), tz)}`,
                  [c.rules.bonus_rate_bp ? `+${basisPointsToPercent(c.rules.bonus_rate_bp)}%` : null, c.rules.bonus_points ? `+${c.rules.bonus_points} points` : null]
                    .filter(Boolean)
                    .join(", ") || "—",
                  c.total_referrals,
                ],
              }))}
            />
          )}
          <Pager path={path} query={query} next={page.next} shown={page.rows.length} />
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">New campaign</Heading>
          <Text size="2" className="muted">
            Dates are in the program&apos;s time zone ({tz}); the campaign runs through the end of its last day. Each referral
            converted while it runs earns the bonus on top of the program&apos;s rate; at the end the standings freeze and the
            prizes are given once. Held or rejected referrals never count.
          </Text>
          <ActionForm action={createCampaignAction.bind(null, companyId)} label="New campaign" className="stack">
            <CampaignFields catalog={catalog} currency={program.currency} />
            <div className="row">
              <Button type="submit" name="intent" value="schedule">Schedule</Button>
              <Button type="submit" name="intent" value="draft" variant="soft">Save as draft</Button>
            </div>
          </ActionForm>
        </div>
      </Card>
    </>
  );
}
