import { Badge, Card, Heading, Text } from "@whop/react/components";
import { Stat } from "@/app/_components/stat";
import { SimpleTable } from "@/app/_components/table";
import { referralLink } from "@/lib/codes";
import { env } from "@/lib/env";
import { formatMoney } from "@/lib/money";
import { getMemberView } from "@/lib/referrals";
import { getMemberWallet } from "@/lib/commissions";
import { ActionForm } from "@/app/_components/action-form";
import { Button } from "@whop/react/components";
import { redeemAction, requestPayoutAction, setCodeAction } from "./actions";
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
  const wallet = await getMemberWallet(viewer.companyId, viewer.userId);
  const link = referralLink(view.code);
  const cur = wallet.currency;
  const day = (iso: string) => new Date(iso).toLocaleDateString("en-US", { dateStyle: "medium" });
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
          <ActionForm action={setCodeAction.bind(null, experienceId)} label="Change your code" className="inline-form">
            <input name="code" placeholder="A code of your own" aria-label="New code" />
            <Button size="1" variant="soft" type="submit">Change code</Button>
          </ActionForm>
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
                <MoneyStat label="Total earned" cents={e.total_earnings} currency={e.currency} testId="earnings-total" />
                <MoneyStat label="Not yet paid" cents={e.pending_earnings} currency={e.currency} testId="earnings-pending" />
                <MoneyStat label="Paid" cents={e.paid_earnings} currency={e.currency} testId="earnings-paid" />
              </div>
            </div>
          </Card>
        ))}
      </section>


      <Card size="2">
        <div className="stack">
          <Heading size="4">Your balance ({cur})</Heading>
          <div className="row">
            <MoneyStat label="Pending" cents={wallet.balances.pending} currency={cur} testId="balance-pending" />
            <MoneyStat label="Available" cents={wallet.balances.available} currency={cur} testId="balance-available" />
            <MoneyStat label="Paid" cents={wallet.balances.paid} currency={cur} testId="balance-paid" />
            <MoneyStat label="Reversed" cents={wallet.balances.reversed} currency={cur} testId="balance-reversed" />
          </div>
          {wallet.upcoming.length > 0 && (
            <Text size="2" className="muted" data-testid="upcoming">
              {wallet.upcoming.map((u) => `${formatMoney(u.amount_cents, cur)} on ${day(u.available_at)}`).join(" · ")}
            </Text>
          )}
          <ActionForm action={requestPayoutAction.bind(null, experienceId)} label="Request payout">
            <Button type="submit" disabled={!wallet.payout.can_request}>
              Request payout of {formatMoney(Math.max(wallet.payout.available_cents, 0), cur)}
            </Button>
            {!wallet.payout.can_request && (
              <Text size="2" className="muted" data-testid="payout-reason">
                {wallet.payout.reason}
                {wallet.payout.reason === "Below the minimum payout" && ` of ${formatMoney(wallet.payout.min_payout_cents, cur)}`}
              </Text>
            )}
          </ActionForm>
          {wallet.payouts.length > 0 && (
            <SimpleTable
              label="Payout history"
              rows={wallet.payouts.map((o) => ({
                key: o.id,
                cells: [
                  day(o.requested_at),
                  formatMoney(o.amount_cents, o.currency),
                  <Badge color={o.status === "completed" ? "green" : o.status === "failed" ? "red" : "amber"}>{o.status}</Badge>,
                ],
              }))}
            />
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">
            Points: <span data-testid="points-balance">{wallet.points.balance}</span>
          </Heading>
          {wallet.items.length > 0 && (
            <div className="grid">
              {wallet.items.map((i) => (
                <Card key={i.id}>
                  <ActionForm action={redeemAction.bind(null, experienceId, i.id)} label={`Redeem ${i.name}`} className="stack">
                    <Text weight="bold">{i.name}</Text>
                    <Text size="2" className="muted">{i.cost_points} points</Text>
                    <Button size="1" type="submit" disabled={wallet.points.balance < i.cost_points}>Redeem</Button>
                  </ActionForm>
                </Card>
              ))}
            </div>
          )}
          {wallet.redemptions.length > 0 && (
            <Text size="2">
              Your rewards:{" "}
              {wallet.redemptions
                .map((r) => `${r.item} — ${r.status}${(r.result as { promo_code?: string } | null)?.promo_code ? ` (code ${(r.result as { promo_code: string }).promo_code})` : ""}`)
                .join(" · ")}
            </Text>
          )}
          {wallet.points.history.length > 0 && (
            <Text size="2" className="muted" data-testid="points-history">
              {wallet.points.history
                .slice(0, 8)
                .map((h) => `${h.points > 0 ? "+" : ""}${h.points} ${(h.type ?? "").toLowerCase().replace(/_/g, " ")}`)
                .join(" · ")}
            </Text>
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="4">Your referrals</Heading>
          {view.referrals.length === 0 ? (
            <Text className="muted">No referrals yet — share your link to get the first one.</Text>
          ) : (
            <SimpleTable
              label="Your referrals"
              columns={["Member", "Status", "Joined"]}
              rows={view.referrals.map((r) => ({
                key: `${r.referee}-${r.created_at}`,
                cells: [r.referee, <Badge color={statusColor[r.status]}>{r.status}</Badge>, day(r.created_at)],
              }))}
            />
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

function MoneyStat({ label, cents, currency, testId }: { label: string; cents: number; currency: string; testId: string }) {
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
