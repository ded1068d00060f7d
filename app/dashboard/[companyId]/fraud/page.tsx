import { Button, Card, Text } from "@whop/react/components";
import Link from "next/link";
import { hrefWith, InvalidQuery, Pager } from "@/app/_components/list-controls";
import { FraudQuery, listFraudQueue } from "@/lib/fraud";
import { parseQuery, queryOf } from "@/lib/lists";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { reviewAction } from "./actions";
import { ReviewForm } from "./review-form";
import { reviewRow } from "./rows";

export const dynamic = "force-dynamic";

const TABS = [
  ["open", "Open"],
  ["held", "Held"],
  ["flagged", "Flagged"],
  ["approved", "Approved"],
  ["rejected", "Rejected"],
] as const;

/** "1000+" at the SQL function's cap. */
const count = (n: number) => (n >= 1000 ? "1000+" : String(n));

/**
 * Fraud: the review queue (held and flagged referrals, highest score first), a tab per
 * review status, filter by referrer; each signal that fired in words, the referrer's other
 * reviews; approve or reject one or many with a reason, trust a referrer.
 */
export default async function FraudPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  const viewer = await requireCompanyAdmin(companyId);
  const base = `/dashboard/${companyId}`;
  const path = `${base}/fraud`;
  const query = queryOf(await searchParams, ["status", "member", "after"]);
  const { value, invalid } = parseQuery(FraudQuery, query);
  const [queue, program] = await Promise.all([listFraudQueue(companyId, value), getProgram(companyId)]);
  const status = value.status ?? "open";
  const open = status === "open" || status === "held" || status === "flagged";
  const counts: Record<string, string> = {
    open: count(queue.counts.held + queue.counts.flagged),
    held: count(queue.counts.held),
    flagged: count(queue.counts.flagged),
  };
  const rows = queue.rows.map((r) => reviewRow(r, base, program.currency, viewer.userId));
  return (
    <Card size="2">
      <div className="stack">
        <Text size="2" className="muted">
          Referrals whose fraud checks fired, highest score first. A <strong>held</strong> referral&apos;s commissions wait on hold
          until you decide: approve sends them back to pending, reject cancels them. A <strong>flagged</strong> one was paid as usual.{" "}
          <Link href={`${base}/settings#fraud-checks`}>Fraud check settings</Link>
        </Text>
        <Text size="2" data-testid="fraud-counts">
          {program.fraud_mode === "off" ? "Fraud checks are off. " : ""}
          {counts.held} held · {counts.flagged} flagged
        </Text>
        <nav className="filters" aria-label="Review status">
          {TABS.map(([key, title]) => (
            <Button key={key} asChild size="1" variant={status === key ? "solid" : "soft"}>
              <Link href={hrefWith(path, query, { status: key === "open" ? null : key, after: null })} aria-current={status === key ? "page" : undefined}>
                {title}
                {counts[key] !== undefined ? ` (${counts[key]})` : ""}
              </Link>
            </Button>
          ))}
        </nav>
        <form className="filters" aria-label="Filter reviews" method="get">
          {value.status && <input type="hidden" name="status" value={value.status} />}
          <input className="select" name="member" placeholder="Referrer" defaultValue={query.member ?? ""} aria-label="Referrer" />
          <Button size="1" type="submit" variant="soft">Filter</Button>
          {query.member && <Link href={hrefWith(path, query, { member: null, after: null })}>Clear</Link>}
          <InvalidQuery invalid={invalid} />
        </form>
        {rows.length === 0 && !open ? (
          <Text className="muted">No {status} referrals{query.member ? " for this referrer" : ""}.</Text>
        ) : (
          // keyed by the view: a decision's message stays while its rows leave, a new view starts clean
          <ReviewForm
            key={`${status}|${query.member ?? ""}|${query.after ?? ""}`}
            action={reviewAction.bind(null, companyId)}
            rows={rows}
            open={open}
            empty={`Nothing to review${query.member ? " for this referrer" : ""}.`}
          />
        )}
        <Pager path={path} query={query} next={queue.next} shown={rows.length} />
      </div>
    </Card>
  );
}
