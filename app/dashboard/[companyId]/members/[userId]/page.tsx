import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { notFound } from "next/navigation";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { Stat } from "@/app/_components/stat";
import { SimpleTable } from "@/app/_components/table";
import { listCommissions, rateLabel } from "@/lib/commissions";
import { getMemberFraud } from "@/lib/fraud";
import { getMemberDetail } from "@/lib/members";
import { formatMoney } from "@/lib/money";
import { getProgram } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { grantPointsAction } from "../../rewards/actions";
import { changeMemberCodeAction, setCodeActiveAction } from "../actions";
import { setTrustedAction } from "../../fraud/actions";
import { reviewRow } from "../../fraud/rows";

export const dynamic = "force-dynamic";

/** One member: their figures, referrals, fraud reviews, commissions, payouts and points; code, trust and points actions. */
export default async function MemberPage({ params }: { params: Promise<{ companyId: string; userId: string }> }) {
  const { companyId, userId: raw } = await params;
  const viewer = await requireCompanyAdmin(companyId);
  const userId = decodeURIComponent(raw);
  const [detail, program, commissions, fraud] = await Promise.all([
    getMemberDetail(companyId, userId),
    getProgram(companyId),
    listCommissions(companyId, { member: userId }, 20),
    getMemberFraud(companyId, userId),
  ]);
  if (!detail) notFound();
  const m = detail.member;
  const money = (v: number) => formatMoney(v, program.currency);
  const base = `/dashboard/${companyId}`;
  const reviews = fraud.rows.map((r) => reviewRow(r, base, program.currency, viewer.userId));
  return (
    <>
      <Text size="2">
        <Link href={`${base}/members`}>← Members</Link>
      </Text>
      <div className="row">
        <Heading size="5" data-testid="member-name">{m.username}</Heading>
        {fraud.trusted && <Badge color="green" data-testid="member-trusted">trusted</Badge>}
      </div>
      <Text size="2" className="muted">
        Code <strong data-testid="member-code">{m.code ?? "—"}</strong>{" "}
        {m.code && <Badge color={m.code_active ? "green" : "gray"} data-testid="member-code-status">{m.code_active ? "active" : "off"}</Badge>}
        {detail.referred_by && <> · referred by <Link href={`${base}/members/${encodeURIComponent(detail.referred_by.user_id)}`}>{detail.referred_by.username}</Link></>}
      </Text>
      <section className="grid" aria-label="Member figures">
        <Stat label="Clicks" value={m.clicks} testId="member-clicks" />
        <Stat label="Signups" value={m.signups} testId="member-signups" />
        <Stat label="Conversions" value={m.conversions} testId="member-conversions" />
        <Stat label="Active referrals" value={m.active_referrals} testId="member-active" />
        <Stat label="Revenue attributed" value={money(m.revenue_cents)} testId="member-revenue" />
        <Stat label="Earned" value={money(m.earned_cents)} testId="member-earned" />
        <Stat label="Paid" value={money(m.paid_cents)} testId="member-paid" />
        <Stat label="Available" value={money(m.available_cents)} testId="member-available" />
        <Stat label="Points" value={m.points} testId="member-points" />
      </section>

      <Card size="2">
        <div className="stack">
          <Heading size="3">Actions</Heading>
          {m.code && (
            <ActionForm action={setCodeActiveAction.bind(null, companyId, userId, !m.code_active)} label={m.code_active ? "Deactivate code" : "Reactivate code"}>
              <Button size="1" type="submit" variant="soft" color={m.code_active ? "red" : "green"}>
                {m.code_active ? "Deactivate code" : "Reactivate code"}
              </Button>
              <Text size="2" className="muted">{m.code_active ? "Its link will show a friendly page and record nothing." : "Its link works again."}</Text>
            </ActionForm>
          )}
          {m.code && (
            <ActionForm action={changeMemberCodeAction.bind(null, companyId, userId)} label="Change code" className="inline-form">
              <input name="code" placeholder="New code" aria-label="New code" />
              <Button size="1" type="submit" variant="soft">Change code</Button>
            </ActionForm>
          )}
          <ActionForm action={setTrustedAction.bind(null, companyId, userId, !fraud.trusted)} label={fraud.trusted ? "Untrust member" : "Trust member"}>
            <Button size="1" type="submit" variant="soft" color={fraud.trusted ? "red" : "green"}>
              {fraud.trusted ? "Untrust" : "Trust"}
            </Button>
            <Text size="2" className="muted">
              {fraud.trusted
                ? `Trusted${fraud.trusted_at ? ` since ${day(fraud.trusted_at)}` : ""}: their referrals are checked but never held.`
                : "Trusted members' referrals are checked but never held."}
            </Text>
          </ActionForm>
          <ActionForm action={grantPointsAction.bind(null, companyId)} label="Grant points" className="inline-form">
            <input type="hidden" name="member" value={userId} />
            <input name="points" placeholder="Points (negative deducts)" aria-label="Points" />
            <input name="reason" placeholder="Reason" aria-label="Reason" />
            <Button size="1" type="submit" variant="soft">Grant points</Button>
          </ActionForm>
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="3">Referrals (latest 20)</Heading>
          {detail.plans.length > 0 && (
            <Text size="2" data-testid="member-plans">
              By plan: {detail.plans.map((p) => `${p.plan_id} ${p.conversions} (${p.active_referrals} active)`).join(" · ")}
            </Text>
          )}
          {detail.referrals.length === 0 ? (
            <Text className="muted">No referrals yet.</Text>
          ) : (
            <div className="table-scroll">
              <SimpleTable
                label="Member referrals"
                columns={["Referee", "Status", "Joined", "Converted"]}
                rows={detail.referrals.map((r) => ({
                  key: r.id,
                  cells: [
                    r.referee,
                    <Badge key="s" color={statusColor[r.status] ?? "gray"}>{r.status === "converted" && !r.active ? "converted · inactive" : r.status}</Badge>,
                    day(r.created_at),
                    r.converted_at ? day(r.converted_at) : "—",
                  ],
                }))}
              />
            </div>
          )}
          <Link href={`${base}/referrals?member=${encodeURIComponent(userId)}`}>All their referrals →</Link>
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="3">Fraud reviews (latest 50)</Heading>
          {reviews.length === 0 ? (
            <Text className="muted">None of their referrals was flagged.</Text>
          ) : (
            <div className="table-scroll">
              <SimpleTable
                label="Member fraud reviews"
                columns={["Referee", "Score", "Status", "On hold", "Why", "Decision"]}
                rows={reviews.map((r) => ({
                  key: r.id,
                  cells: [
                    <div key="ref" className="stack tight">
                      <Link href={r.refereeHref} className="nowrap">{r.referee}</Link>
                      <Text size="1" className="muted">{r.convertedOn}</Text>
                    </div>,
                    r.score,
                    <Badge key="s" color={statusColor[r.fraudStatus] ?? "gray"}>{r.fraudStatus}</Badge>,
                    r.held ?? "—",
                    r.reasons.length ? (
                      <ul key="w" className="reasons">{r.reasons.map((w) => <li key={w}>{w}</li>)}</ul>
                    ) : (
                      "—"
                    ),
                    r.decision ?? (
                      <Link key="d" href={`${base}/fraud?member=${encodeURIComponent(userId)}`}>Decide in Fraud →</Link>
                    ),
                  ],
                }))}
              />
            </div>
          )}
        </div>
      </Card>

      <Card size="2">
        <div className="stack">
          <Heading size="3">Commissions (latest 20)</Heading>
          {commissions.rows.length === 0 ? (
            <Text className="muted">No commissions yet.</Text>
          ) : (
            <div className="table-scroll">
              <SimpleTable
                label="Member commissions"
                columns={["Date", "Level", "Rate", "Amount", "Status"]}
                rows={commissions.rows.map((c) => ({
                  key: c.id,
                  cells: [
                    day(c.created_at),
                    c.kind === "clawback" ? "clawback" : c.kind === "bonus" ? "campaign prize" : c.level,
                    rateLabel(c),
                    formatMoney(c.amount_cents - c.reversed_cents, c.currency),
                    <Badge key="s" color={statusColor[c.status] ?? "gray"}>{c.status}</Badge>,
                  ],
                }))}
              />
            </div>
          )}
          <Link href={`${base}/commissions?member=${encodeURIComponent(userId)}`}>All their commissions →</Link>
        </div>
      </Card>

      <div className="two-col">
        <Card size="2">
          <div className="stack">
            <Heading size="3">Payouts</Heading>
            {detail.payouts.length === 0 ? (
              <Text className="muted">No payouts yet.</Text>
            ) : (
              <SimpleTable
                label="Member payouts"
                columns={["Requested", "Amount", "Status"]}
                rows={detail.payouts.map((o) => ({
                  key: o.id,
                  cells: [day(o.requested_at), formatMoney(o.amount_cents, o.currency), <Badge key="s" color={statusColor[o.status] ?? "gray"}>{o.status}</Badge>],
                }))}
              />
            )}
          </div>
        </Card>
        <Card size="2">
          <div className="stack">
            <Heading size="3">Points history</Heading>
            {detail.points.length === 0 ? (
              <Text className="muted">No points yet.</Text>
            ) : (
              <SimpleTable
                label="Member points"
                columns={["Date", "Points", "Why"]}
                rows={detail.points.map((h, i) => ({
                  key: `${h.created_at}-${i}`,
                  cells: [day(h.created_at), `${h.points > 0 ? "+" : ""}${h.points}`, h.memo ?? (h.type ?? "").toLowerCase().replace(/_/g, " ")],
                }))}
              />
            )}
          </div>
        </Card>
      </div>
    </>
  );
}
