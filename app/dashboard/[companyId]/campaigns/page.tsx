import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { InvalidQuery, Pager } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { CampaignStatus, listCampaigns, PRIZE_PLACES } from "@/lib/campaigns";
import { parseQuery, queryOf } from "@/lib/lists";
import { basisPointsToPercent } from "@/lib/money";
import { getProgram } from "@/lib/programs";
import { listCompanyPlans } from "@/lib/whop/gateway";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { z } from "zod";
import { createCampaignAction } from "./actions";

export const dynamic = "force-dynamic";

const Query = z.object({ status: CampaignStatus.optional(), after: z.string().max(200).optional() });

/** The prize choices of the form, with what the value field means for each. */
const PRIZE_TYPES = [
  ["", "no prize"],
  ["commission", "money (amount)"],
  ["points", "points"],
  ["discount", "promo code (% off)"],
  ["product_unlock", "free access (plan id)"],
  ["custom", "custom (describe it)"],
] as const;

function PrizeFields({ prefix, label }: { prefix: string; label: string }) {
  return (
    <>
      <select className="select" name={`${prefix}_type`} aria-label={`${label} prize`} defaultValue="">
        {PRIZE_TYPES.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
      </select>
      <input className="select" name={`${prefix}_value`} placeholder="amount, points, % off, plan_… or text" aria-label={`${label} prize value`} />
    </>
  );
}

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
  const [program, page, plans] = await Promise.all([
    getProgram(companyId),
    listCampaigns(companyId, value),
    listCompanyPlans(companyId).catch(() => []),
  ]);
  const tz = program.timezone;
  const products = [...new Map(plans.filter((p) => p.product_id).map((p) => [p.product_id!, p.product ?? p.product_id!])).entries()];
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
                  `${day(c.start_date, tz)} – ${day(new Date(Date.parse(c.end_date) - 1).toISOString(), tz)}`,
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
            <div className="filters">
              <input className="select" name="name" placeholder="Name" aria-label="Campaign name" />
              <label>Starts <input className="select" type="date" name="start_date" aria-label="Start date" /></label>
              <label>Ends <input className="select" type="date" name="end_date" aria-label="End date" /></label>
            </div>
            <textarea className="select" name="description" placeholder="What members should know" aria-label="Description" rows={2} />
            <div className="filters">
              <input className="select" name="bonus_rate" placeholder="Bonus rate, % (e.g. 5)" aria-label="Bonus rate percent" />
              <input className="select" name="bonus_points" placeholder="Bonus points per referral" aria-label="Bonus points" />
            </div>
            {products.length > 0 && (
              <fieldset className="filters">
                <legend>Eligible products (none checked = all)</legend>
                {products.map(([id, title]) => (
                  <label key={id}>
                    <input type="checkbox" name="product_ids" value={id} /> {title}
                  </label>
                ))}
              </fieldset>
            )}
            <fieldset className="stack">
              <legend>Prizes for the top referrers (by referrals in the campaign; ties go to who got there first)</legend>
              {Array.from({ length: PRIZE_PLACES }, (_, i) => (
                <div className="filters" key={i}>
                  <Text size="2">Place {i + 1}</Text>
                  <PrizeFields prefix={`prize_${i + 1}`} label={`Place ${i + 1}`} />
                </div>
              ))}
              <div className="filters">
                <Text size="2">Everyone reaching</Text>
                <input className="select" name="reach_count" placeholder="referrals" aria-label="Everyone reaching, referrals" size={8} />
                <PrizeFields prefix="reach" label="Everyone reaching" />
              </div>
            </fieldset>
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
