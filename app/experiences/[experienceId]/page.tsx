import { Badge, Card, Heading, Table, Text } from "@whop/react/components";
import { Stat } from "@/app/_components/stat";
import { referralLink } from "@/lib/codes";
import { env } from "@/lib/env";
import { formatMoney } from "@/lib/money";
import { getMemberView } from "@/lib/referrals";
import { whop } from "@/lib/whop/client";
import { requireExperienceViewer } from "@/lib/whop/viewer";
import { ClaimForm } from "./claim-form";
import { CopyLink } from "./copy-link";

export const dynamic = "force-dynamic";

const statusColor = { pending: "amber", converted: "green", expired: "gray", cancelled: "red" } as const;

/** Member view (Whop "App path"): link, funnel, earnings, referrals, "who invited you?". */
export default async function MemberPage({ params }: { params: Promise<{ experienceId: string }> }) {
  const { experienceId } = await params;
  const viewer = await requireExperienceViewer(experienceId);
  const profile = await whop().users.retrieve(viewer.userId).catch(() => null);
  const view = await getMemberView(viewer.companyId, {
    id: viewer.userId,
    username: profile?.username ?? null,
    name: profile?.name ?? null,
  });
  const link = referralLink(view.code);
  const earnings = view.earnings.length
    ? view.earnings
    : [{ currency: view.program.currency, total_earnings: 0, pending_earnings: 0, paid_earnings: 0 }];

  return (
    <>
      <Card size="3">
        <div className="stack">
          <Heading size="6">Invite friends, earn commission</Heading>
          <Text className="muted">Share your link. When someone joins and pays through it, you earn a commission.</Text>
          <div className="row">
            <span className="link-box" data-testid="referral-link">
              {link}
            </span>
            <CopyLink link={link} />
          </div>
          <Text size="2" className="muted">
            Your code: <strong data-testid="referral-code">{view.code}</strong>
          </Text>
          {env().demo && (
            <Text size="2">
              <a href={`/r/${encodeURIComponent(view.code)}`}>Simulate a purchase through this link →</a>
            </Text>
          )}
        </div>
      </Card>

      <section className="grid" aria-label="Funnel">
        <Stat label="Clicks" value={view.funnel.clicks} testId="funnel-clicks" />
        <Stat label="Signups" value={view.funnel.signups} testId="funnel-signups" />
        <Stat label="Conversions" value={view.funnel.conversions} testId="funnel-conversions" />
      </section>

      <section className="grid" aria-label="Earnings">
        {earnings.map((e) => (
          <Card key={e.currency}>
            <div className="stack">
              <Text weight="bold">Earnings ({e.currency})</Text>
              <div className="row">
                <Money label="Total" cents={e.total_earnings} currency={e.currency} testId="earnings-total" />
                <Money label="Pending" cents={e.pending_earnings} currency={e.currency} testId="earnings-pending" />
                <Money label="Paid" cents={e.paid_earnings} currency={e.currency} testId="earnings-paid" />
              </div>
            </div>
          </Card>
        ))}
      </section>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Your referrals</Heading>
          {view.referrals.length === 0 ? (
            <Text className="muted">No referrals yet — share your link to get the first one.</Text>
          ) : (
            <Table.Root>
              <Table.Table>
                <Table.Header>
                  <Table.Row>
                    <Table.ColumnHeaderCell>Member</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Status</Table.ColumnHeaderCell>
                    <Table.ColumnHeaderCell>Joined</Table.ColumnHeaderCell>
                  </Table.Row>
                </Table.Header>
                <Table.Body>
                  {view.referrals.map((r) => (
                    <Table.Row key={`${r.referee}-${r.created_at}`}>
                      <Table.Cell>{r.referee}</Table.Cell>
                      <Table.Cell>
                        <Badge color={statusColor[r.status]}>{r.status}</Badge>
                      </Table.Cell>
                      <Table.Cell>{new Date(r.created_at).toLocaleDateString("en-US", { dateStyle: "medium" })}</Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table.Table>
            </Table.Root>
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Who invited you?</Heading>
          {view.referred_by ? (
            <Text data-testid="referred-by">
              You were invited by <strong>{view.referred_by.username}</strong>.
            </Text>
          ) : (
            <ClaimForm experienceId={experienceId} />
          )}
        </div>
      </Card>
    </>
  );
}

function Money({ label, cents, currency, testId }: { label: string; cents: number; currency: string; testId: string }) {
  return (
    <div className="stat">
      <Text size="2" className="muted">
        {label}
      </Text>
      <span className="stat-value" data-testid={testId}>
        {formatMoney(cents, currency)}
      </span>
    </div>
  );
}
