import { Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { bucketLabel } from "@/app/_components/format";
import { SimpleTable } from "@/app/_components/table";
import { TrendChart } from "@/app/_components/trend-chart";
import { change, getOverview, RANGES, resolveRange, todayIn, type Kpis } from "@/lib/analytics";
import { queryOf } from "@/lib/lists";
import { formatMoney } from "@/lib/money";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { setupDone, SetupChecklist } from "./setup-checklist";

export const dynamic = "force-dynamic";

const RANGE_TITLES: Record<string, string> = { "7d": "7 days", "30d": "30 days", "90d": "90 days", "12m": "12 months" };

/** Overview: KPIs against the previous period, charts, top referrers, sources and countries. */
export default async function OverviewPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const query = queryOf(await searchParams, ["range", "from", "to"]);
  const program = await getProgram(companyId);
  const range = resolveRange(query, todayIn(program.timezone));
  const o = await getOverview(companyId, range.from, range.to);
  const cur = o.currency;
  const c = o.kpis.current;
  const p = o.kpis.previous;
  const money = (v: number) => formatMoney(v, cur);
  const rate = (k: Kpis) => (k.clicks ? (k.conversions / k.clicks) * 100 : 0);
  const epc = (k: Kpis) => (k.clicks ? Math.round(k.commissions_cents / k.clicks) : 0);
  const base = `/dashboard/${companyId}`;
  const points = o.series.map((s) => ({ ...s, label: bucketLabel(s.bucket) }));

  return (
    <>
      {!setupDone(program) && <SetupChecklist companyId={companyId} program={program} owedCents={o.owed_cents} />}
      <nav className="filters" aria-label="Date range">
        {Object.keys(RANGES).map((k) => (
          <Button key={k} asChild size="1" variant={range.key === k ? "solid" : "soft"}>
            <Link href={`${base}?range=${k}`}>{RANGE_TITLES[k]}</Link>
          </Button>
        ))}
        <form method="get" className="filters" aria-label="Custom range">
          <input type="hidden" name="range" value="custom" />
          <input className="select" type="date" name="from" defaultValue={range.key === "custom" ? range.from : ""} aria-label="From" />
          <input className="select" type="date" name="to" defaultValue={range.key === "custom" ? range.to : ""} aria-label="To" />
          <Button size="1" variant={range.key === "custom" ? "solid" : "soft"} type="submit">Custom</Button>
        </form>
        {range.error && <span className="field-error" role="alert">{range.error}</span>}
      </nav>
      <Text size="2" className="muted" data-testid="range">
        {range.from} – {range.to} ({o.timezone}{o.granularity === "week" ? ", by week" : ""}), compared with the {RANGE_TITLES[range.key] ?? "days"} before
      </Text>

      <section className="grid" aria-label="Key figures">
        <Kpi label="Clicks" value={String(c.clicks)} delta={change(c.clicks, p.clicks)} testId="kpi-clicks" />
        <Kpi label="Signups" value={String(c.signups)} delta={change(c.signups, p.signups)} testId="kpi-signups" />
        <Kpi label="Conversions" value={String(c.conversions)} delta={change(c.conversions, p.conversions)} testId="kpi-conversions" />
        <Kpi label="Conversion rate" value={`${rate(c).toFixed(1)}%`} delta={change(rate(c), rate(p))} testId="kpi-rate" />
        <Kpi label="Revenue attributed" value={money(c.revenue_cents)} delta={change(c.revenue_cents, p.revenue_cents)} testId="kpi-revenue" />
        <Kpi label="Commissions earned" value={money(c.commissions_cents)} delta={change(c.commissions_cents, p.commissions_cents)} testId="kpi-earned" />
        <Kpi label="Commissions paid" value={money(c.paid_cents)} delta={change(c.paid_cents, p.paid_cents)} testId="kpi-paid" />
        <Kpi label="Owed now" value={money(o.owed_cents)} delta={null} testId="kpi-owed" />
        <Kpi label="Active referrers" value={String(c.active_referrers)} delta={change(c.active_referrers, p.active_referrers)} testId="kpi-referrers" />
        <Kpi label="Earnings per click" value={money(epc(c))} delta={change(epc(c), epc(p))} testId="kpi-epc" />
      </section>

      <div className="two-col">
        <Card size="2">
          <Heading size="3">Clicks, signups, conversions</Heading>
          <TrendChart
            label="Clicks, signups and conversions over time"
            points={points}
            series={[
              { key: "clicks", label: "Clicks", color: "#7c3aed" },
              { key: "signups", label: "Signups", color: "#0ea5e9" },
              { key: "conversions", label: "Conversions", color: "#16a34a" },
            ]}
          />
        </Card>
        <Card size="2">
          <Heading size="3">Revenue and commissions ({cur})</Heading>
          <TrendChart
            label="Revenue attributed and commissions earned over time"
            money={cur}
            points={points}
            series={[
              { key: "revenue_cents", label: "Revenue", color: "#7c3aed" },
              { key: "commissions_cents", label: "Commissions", color: "#f59e0b" },
            ]}
          />
        </Card>
      </div>

      <div className="two-col">
        <Ranking title="Top referrers by revenue (all time)" rows={o.top_by_revenue} base={base} money={money} testId="top-revenue" />
        <Ranking title="Top referrers by conversions (all time)" rows={o.top_by_conversions} base={base} money={money} testId="top-conversions" />
      </div>
      <div className="two-col">
        <Card size="2">
          <Heading size="3">Traffic sources</Heading>
          {o.sources.length === 0 ? (
            <Text className="muted">No clicks in this range.</Text>
          ) : (
            <SimpleTable label="Traffic sources" columns={["Source", "Clicks"]} rows={o.sources.map((s) => ({ key: s.value, cells: [s.value, s.clicks] }))} />
          )}
        </Card>
        <Card size="2">
          <Heading size="3">Countries</Heading>
          {o.countries.length === 0 ? (
            <Text className="muted">No clicks in this range.</Text>
          ) : (
            <SimpleTable
              label="Countries"
              columns={["Country", "Clicks"]}
              rows={o.countries.map((s) => ({ key: s.value, cells: [s.value === "??" ? "Unknown" : s.value, s.clicks] }))}
            />
          )}
        </Card>
      </div>
    </>
  );
}

function Kpi({ label, value, delta, testId }: { label: string; value: string; delta: number | null; testId: string }) {
  return (
    <Card>
      <div className="stat">
        <Text size="2" className="muted">{label}</Text>
        <span className="stat-value" data-testid={testId}>{value}</span>
        <span className={`kpi-change ${delta === null ? "muted" : delta >= 0 ? "kpi-up" : "kpi-down"}`} data-testid={`${testId}-change`}>
          {delta === null ? "—" : `${delta >= 0 ? "+" : ""}${delta}% vs previous`}
        </span>
      </div>
    </Card>
  );
}

function Ranking({
  title,
  rows,
  base,
  money,
  testId,
}: {
  title: string;
  rows: { user_id: string; username: string; conversions: number; revenue_cents: number }[];
  base: string;
  money: (v: number) => string;
  testId: string;
}) {
  return (
    <Card size="2" data-testid={testId}>
      <Heading size="3">{title}</Heading>
      {rows.length === 0 ? (
        <Text className="muted">No conversions yet.</Text>
      ) : (
        <SimpleTable
          label={title}
          columns={["Member", "Conversions", "Revenue"]}
          rows={rows.map((r) => ({
            key: r.user_id,
            cells: [<Link key="m" href={`${base}/members/${encodeURIComponent(r.user_id)}`}>{r.username}</Link>, r.conversions, money(r.revenue_cents)],
          }))}
        />
      )}
    </Card>
  );
}
