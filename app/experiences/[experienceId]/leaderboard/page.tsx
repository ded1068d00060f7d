import { Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { SimpleTable } from "@/app/_components/table";
import { BoardPeriod, getLeaderboard } from "@/lib/gamification";
import { requireExperienceViewer } from "@/lib/whop/viewer";
import { setAnonymousAction } from "./actions";

export const dynamic = "force-dynamic";

const TITLES: Record<BoardPeriod, string> = { week: "This week", month: "This month", all: "All time" };
const PREVIOUS: Record<BoardPeriod, string> = { week: "last week", month: "last month", all: "" };

/** Member Leaderboard: the top 10 of this week, month or all time, the member's own rank, and last period's. */
export default async function LeaderboardPage({
  params,
  searchParams,
}: {
  params: Promise<{ experienceId: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { experienceId } = await params;
  const viewer = await requireExperienceViewer(experienceId);
  const asked = BoardPeriod.safeParse((await searchParams).period);
  const period = asked.success ? asked.data : "week";
  const board = await getLeaderboard(viewer.companyId, viewer.userId, period);
  const path = `/experiences/${experienceId}/leaderboard`;
  return (
    <Card size="2">
      <div className="stack">
        <Heading size="4">Leaderboard</Heading>
        <nav className="row" aria-label="Period">
          {BoardPeriod.options.map((p) =>
            p === period ? <strong key={p}>{TITLES[p]}</strong> : <Link key={p} href={`${path}?period=${p}`}>{TITLES[p]}</Link>,
          )}
        </nav>
        <Text size="2" className="muted">Ranked by referrals who paid{period === "all" ? "" : ` since ${board.period_start}`}; on a tie, whoever got there first is ahead.</Text>
        {board.top.length === 0 ? (
          <Text className="muted">No referrals yet {period === "all" ? "" : TITLES[period].toLowerCase()} — the first one takes the top spot.</Text>
        ) : (
          <SimpleTable
            label="Leaderboard"
            columns={["Rank", "Member", "Referrals"]}
            rows={board.top.map((r) => ({ key: `${r.rank}`, cells: [`#${r.rank}`, r.you ? `${r.name} (you)` : r.name, r.conversions] }))}
          />
        )}
        <Text data-testid="your-rank">
          {board.you ? `You: #${board.you.rank} with ${board.you.conversions} referral${board.you.conversions === 1 ? "" : "s"}.` : "You're not on this board yet."}
          {period !== "all" && (board.previous ? ` ${PREVIOUS[period][0].toUpperCase()}${PREVIOUS[period].slice(1)}: #${board.previous.rank}.` : "")}
        </Text>
        <ActionForm action={setAnonymousAction.bind(null, experienceId, !board.anonymous)} label={board.anonymous ? "Show my name" : "Show me as Anonymous"}>
          <Text size="2">{board.anonymous ? "Other members see you as Anonymous." : "Other members see your name here."}</Text>
          <Button size="1" variant="soft" type="submit">{board.anonymous ? "Show my name" : "Show me as Anonymous"}</Button>
        </ActionForm>
      </div>
    </Card>
  );
}
