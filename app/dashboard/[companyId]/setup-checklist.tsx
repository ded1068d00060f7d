import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import { ActionForm } from "@/app/_components/action-form";
import { formatMoney } from "@/lib/money";
import type { Program } from "@/lib/programs";
import { companyLedgerAccount, listCompanyPlans, type CompanyPlan, type LedgerAccount } from "@/lib/whop/gateway";
import { choosePlanAction, confirmTermsAction, adoptLedgerAccountAction } from "./actions";
import { basisPointsToPercent } from "@/lib/money";

/** Whether the checklist is complete: a plan (or landing URL), a ledger account, confirmed terms. */
export const setupDone = (p: Program) => Boolean((p.plan_id || p.landing_url) && p.ledger_account_id && p.terms_confirmed_at);

/**
 * The setup checklist (Settings, and the Overview until it is done): choose the plan links
 * sell from the company's plans (Whop API), use the company's ledger account (Whop API)
 * with its balance beside what members are owed, and confirm commission and hold.
 */
export async function SetupChecklist({ companyId, program, owedCents }: { companyId: string; program: Program; owedCents: number }) {
  const [plans, ledger] = await Promise.all([
    listCompanyPlans(companyId).catch(() => null as CompanyPlan[] | null),
    companyLedgerAccount(companyId).catch(() => null as LedgerAccount | null),
  ]);
  const cur = program.currency;
  const balance = ledger?.balances.find((b) => b.currency === cur);
  const step = (done: boolean, title: string, body: React.ReactNode, testId: string) => (
    <li data-testid={testId}>
      <Badge color={done ? "green" : "amber"}>{done ? "Done" : "To do"}</Badge>
      <div className="stack" style={{ gap: 6, flex: 1, minWidth: 0 }}>
        <Text weight="bold">{title}</Text>
        {body}
      </div>
    </li>
  );
  return (
    <Card size="2" aria-label="Setup checklist">
      <div className="stack">
        <Heading size="4">Set up your referral program</Heading>
        <ol className="checklist">
          {step(
            Boolean(program.plan_id),
            "Choose the plan referral links sell",
            plans === null ? (
              <Text size="2" className="field-error">Whop didn't list this company's plans; try again shortly.</Text>
            ) : plans.length === 0 ? (
              <Text size="2" className="muted">This company has no plans on Whop yet. Until one is chosen, links open your Whop store page.</Text>
            ) : (
              <ActionForm action={choosePlanAction.bind(null, companyId)} label="Choose plan">
                <select name="plan_id" className="select" aria-label="Plan" defaultValue={program.plan_id ?? ""}>
                  <option value="">Pick a plan…</option>
                  {plans.map((p) => (
                    <option key={p.id} value={p.id}>
                      {p.title} — {p.label}
                    </option>
                  ))}
                </select>
                <Button size="1" type="submit">Use this plan</Button>
              </ActionForm>
            ),
            "setup-plan",
          )}
          {step(
            Boolean(program.ledger_account_id),
            "Pay out from your Whop balance",
            <>
              {ledger ? (
                <Text size="2">
                  Whop account <code>{ledger.id}</code>: balance <strong data-testid="ledger-balance">{balance ? formatMoney(balance.balance_cents, cur) : formatMoney(0, cur)}</strong>
                  {" · "}members are owed <strong data-testid="owed">{formatMoney(owedCents, cur)}</strong>
                </Text>
              ) : (
                <Text size="2" className="muted">Whop didn't show this company's balance account to the app; enter it under Settings › Payouts.</Text>
              )}
              {ledger && program.ledger_account_id !== ledger.id && (
                <ActionForm action={adoptLedgerAccountAction.bind(null, companyId)} label="Use ledger account">
                  <Button size="1" type="submit">Pay out from {ledger.id}</Button>
                </ActionForm>
              )}
            </>,
            "setup-ledger",
          )}
          {step(
            Boolean(program.terms_confirmed_at),
            "Review commission and hold period",
            <ActionForm action={confirmTermsAction.bind(null, companyId)} label="Confirm commission">
              <Text size="2">
                Referrers earn <strong>{program.commission_type === "flat" ? formatMoney(program.flat_amount_cents, cur) : `${basisPointsToPercent(program.commission_rate_bp)}%`}</strong>,
                held <strong>{program.hold_days} days</strong> before payout (change them under Commissions in settings).
              </Text>
              {!program.terms_confirmed_at && <Button size="1" type="submit">Looks good</Button>}
            </ActionForm>,
            "setup-terms",
          )}
        </ol>
      </div>
    </Card>
  );
}
