import { Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { z } from "zod";
import { hrefWith, InvalidQuery } from "@/app/_components/list-controls";
import { SimpleTable } from "@/app/_components/table";
import { DomainError } from "@/lib/db";
import { BoardPeriod, getLeaderboard, getLeaderboardSnapshot, type LeaderboardSnapshot } from "@/lib/gamification";
import { parseQuery, queryOf } from "@/lib/lists";
import { formatMoney } from "@/lib/money";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";

export const dynamic = "force-dynamic";

const TITLES: Record<BoardPeriod, string> = { week: "This week", month: "This month", all: "All time" };
const Query = z.object({
  period: BoardPeriod.default("week"),
  /** a past week or month (its first day); empty = the latest frozen one */
  start: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  after: z.string().regex(/^\d{1,7}$/).optional(),
});

/**
 * The creator's leaderboard: the live top 10 of this week, month or all time with every
 * name (members who chose anonymity included), and the frozen past weeks and months
 * (referral_leaderboard, by rank, 50 a page, with what each member earned in it).
 */
export default async function CreatorLeaderboardPage({
  params,
  searchParams,
}: {
  params: Promise<{ companyId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { companyId } = await params;
  const viewer = await requireCompanyAdmin(companyId);
  const path = `/dashboard/${companyId}/members/leaderboard`;
  const query = queryOf(await searchParams, ["period", "start", "after"]);
  const { value, invalid } = parseQuery(Query, query);
  const period = value.period ?? "week";
  const [program, board, past] = await Promise.all([
    getProgram(companyId),
    getLeaderboard(companyId, viewer.userId, period, true),
    period === "all"
      ? Promise.resolve(null)
      : getLeaderboardSnapshot(companyId, period, value.start ?? null, Number(value.after ?? 0)).catch((e) => {
          if (e instanceof DomainError && e.status === 404) return null;
          throw e;
        }),
  ]);
  return (
    <>
      <Card size="2">
        <div className="stack">
          <Text size="2">
            <Link href={`/dashboard/${companyId}/members`}>← Members</Link>
          </Text>
          <Heading size="4">Leaderboard</Heading>
          <InvalidQuery invalid={invalid} />
          <nav className="row" aria-label="Period">
            {BoardPeriod.options.map((p) => (p === period ? <strong key={p}>{TITLES[p]}</strong> : <Link key={p} href={`${path}?period=${p}`}>{TITLES[p]}</Link>))}
          </nav>
          <Text size="2" className="muted">
            Live, ranked by counted conversions{period === "all" ? "" : ` since ${board.period_start}`}; ties go to who got there first. You see every name;
            members who chose anonymity show as “Anonymous” to other members.
          </Text>
          {board.top.length === 0 ? (
            <Text className="muted">No counted conversions in this period yet.</Text>
          ) : (
            <SimpleTable
              label="Live leaderboard"
              columns={["Rank", "Member", "Conversions"]}
              rows={board.top.map((r) => ({ key: `${r.rank}`, cells: [`#${r.rank}`, r.name, r.conversions] }))}
            />
          )}
        </div>
      </Card>
      {period !== "all" && <PastBoard path={path} query={query} period={period} past={past} currency={program.currency} />}
    </>
  );
}

/** A frozen week or month with the choice of the others. */
function PastBoard({
  path,
  query,
  period,
  past,
  currency,
}: {
  path: string;
  query: Record<string, string>;
  period: "week" | "month";
  past: LeaderboardSnapshot | null;
  currency: string;
}) {
  return (
    <Card size="2">
      <div className="stack" data-testid="past-board">
        <Heading size="4">Past {period === "week" ? "weeks" : "months"}</Heading>
        {!past ? (
          <Text className="muted">Nothing frozen yet: a {period} is kept here once it has ended (the leaderboards job).</Text>
        ) : (
          <>
            <nav className="row" aria-label="Past periods">
              {past.periods.map((p) =>
                p.period_start === past.period_start ? (
                  <strong key={p.period_start}>{p.period_start}</strong>
                ) : (
                  <Link key={p.period_start} href={hrefWith(path, query, { start: p.period_start, after: null })}>
                    {p.period_start}
                  </Link>
                ),
              )}
            </nav>
            <Text size="2" className="muted">
              {past.period_start} to {past.period_end}
            </Text>
            {past.rows.length === 0 ? (
              <Text className="muted">No counted conversions that {period}.</Text>
            ) : (
              <SimpleTable
                label="Past leaderboard"
                columns={["Rank", "Member", "Conversions", "Commissions"]}
                rows={past.rows.map((r) => ({ key: r.user_id, cells: [`#${r.rank}`, r.name, r.conversions, formatMoney(r.commissions_cents, currency)] }))}
              />
            )}
            {past.next_rank && <Link href={hrefWith(path, query, { start: past.period_start, after: String(past.next_rank) })}>Next 50 →</Link>}
          </>
        )}
      </div>
    </Card>
  );
}
