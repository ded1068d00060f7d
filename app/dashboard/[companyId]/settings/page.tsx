import { Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { ActionForm } from "@/app/_components/action-form";
import { getOverview, todayIn } from "@/lib/analytics";
import { CHECK_HELP, CHECK_TYPES } from "@/lib/fraud";
import { gamificationPreview, type GamificationPreview } from "@/lib/gamification";
import { listTrustedMembers } from "@/lib/members";
import { KIND_LABELS, NotificationKind } from "@/lib/notifications";
import { formatMoney } from "@/lib/money";
import { fraudDefaultWeights, getProgram, notifyField, settingsFormValues, weightField } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { setTimezoneAction } from "./actions";
import { setTrustedAction } from "../fraud/actions";
import { SettingsForm, type Section } from "./settings-form";
import { SetupChecklist } from "../setup-checklist";

export const dynamic = "force-dynamic";

/** The settings form's "Fraud checks" group, in the words of lib/fraud (CHECK_HELP). */
function fraudSection(defaults: Record<string, number>): Section {
  return {
    title: "Fraud checks",
    intro:
      "At each conversion Referly checks the signals below. A referral's score is the sum of the weights of the signals that fired (at most 100). " +
      "Held referrals wait in the Fraud section with their commissions on hold; members only see \"Under review\".",
    fields: [
      {
        name: "fraud_mode",
        label: "Mode",
        options: ["hold", "flag", "off"],
        optionLabels: { hold: "Hold for review", flag: "Flag only", off: "Off" },
        hint: "Hold: a high score waits for you. Flag: listed for review, paid as usual. Off: no checks.",
      },
      { name: "fraud_hold_score", label: "Hold at score (1–100)", hint: "In hold mode, a score this high or higher is held" },
      { name: "fraud_velocity_hour", label: "Conversions per hour", hint: "More for one referrer fires “Too many, too fast”" },
      { name: "fraud_velocity_day", label: "Conversions per day", hint: "The same, over 24 hours" },
      { name: "fraud_min_seconds", label: "Fast purchase (seconds)", hint: "Paying sooner than this after the click fires “Instant purchase”" },
      ...CHECK_TYPES.map((c) => ({
        name: weightField(c),
        label: `${CHECK_HELP[c].title} weight`,
        hint: `${CHECK_HELP[c].help} Default ${defaults[c]}; 0 turns it off.`,
      })),
    ],
  };
}

/** The settings form's "Streaks, tiers and drops" group (lib/gamification; see docs/architecture.md, "Gamification"). */
const gamificationSection: Section = {
  title: "Streaks, tiers and drops",
  intro:
    "Bonuses that bring members back. Streaks and tiers raise level-1 commissions only, and only while switched on; " +
    "a member's streak and tier are kept either way. Only counted conversions move them (not held, rejected or fully refunded ones). " +
    "Challenges are set up under Rewards → Challenges.",
  fields: [
    { name: "streaks_enabled", label: "Streak bonus", checkbox: true },
    { name: "streak_window_days", label: "Streak window (days)", hint: "A conversion within this many days of the last keeps the streak alive" },
    { name: "streak_step_pct", label: "Step per conversion (%)", hint: "10 = ×1.1 on the 2nd conversion, ×1.2 on the 3rd…" },
    { name: "streak_cap_pct", label: "Streak cap (%)", hint: "50 = at most ×1.5" },
    { name: "tiers_enabled", label: "Tier bonus", checkbox: true },
    {
      name: "tiers_by",
      label: "Tiers count",
      options: ["conversions", "commissions"],
      optionLabels: { conversions: "Conversions", commissions: "Lifetime commissions" },
      hint: "What a tier's number means: counted conversions, or commissions earned in total (an amount)",
    },
    { name: "tiers", label: "Tiers", hint: "Name, conversions (or amount), bonus, and a plan given free on reaching it: Bronze 0 0%, Silver 5 2%, Gold 20 5% plan_XXX. A member never drops a tier." },
    { name: "drop_chance_pct", label: "Surprise drop chance (%)", hint: "Per counted conversion; 0 = off" },
    { name: "drop_points", label: "Points per drop" },
  ],
};

/** The settings form's "Notifications" group: each kind Whop notifications are sent for. */
const notificationsSection: Section = {
  title: "Notifications",
  intro: "Members get a Whop notification that opens the app, for each kind ticked here. A member can also mute them on their Home.",
  fields: NotificationKind.options.map((k) => ({ name: notifyField(k), label: KIND_LABELS[k], checkbox: true })),
};

/** What a level-1 commission on an example payment would be at each tier and streak step (saved settings). */
function GamificationPreviewCard({ preview, baseCents, currency }: { preview: GamificationPreview; baseCents: number; currency: string }) {
  return (
    <Card size="2">
      <div className="stack" data-testid="gamification-preview">
        <Heading size="4">What a member would earn</Heading>
        <Text size="2" className="muted">
          Level-1 commission on a {formatMoney(baseCents, currency)} payment with the saved settings, whether or not the bonuses are on.
        </Text>
        <div className="grid">
          <div>
            <Text size="2" weight="bold">By tier</Text>
            <ul>
              {preview.tiers.map((t) => (
                <li key={t.name}>
                  {t.name} ({t.min_commissions_cents !== undefined ? `${formatMoney(t.min_commissions_cents, currency)}+ earned` : `${t.min_conversions}+ conversions`}, +
                  {t.bonus_pct}%): <strong>{formatMoney(t.amount_cents, currency)}</strong>
                </li>
              ))}
            </ul>
          </div>
          <div>
            <Text size="2" weight="bold">By streak</Text>
            <ul>
              {preview.streak.map((s) => (
                <li key={s.conversion}>
                  Conversion {s.conversion} in a row, ×{s.multiplier.toFixed(2)}: <strong>{formatMoney(s.amount_cents, currency)}</strong>
                </li>
              ))}
            </ul>
          </div>
        </div>
      </div>
    </Card>
  );
}

/** Settings: the setup checklist, the program's time zone and every program setting. */
export default async function SettingsPage({ params }: { params: Promise<{ companyId: string }> }) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const previewCents = 10_000;
  const [program, defaults, trusted, preview] = await Promise.all([
    getProgram(companyId),
    fraudDefaultWeights(),
    listTrustedMembers(companyId),
    gamificationPreview(companyId, previewCents),
  ]);
  const today = todayIn(program.timezone);
  const owed = (await getOverview(companyId, today, today)).owed_cents;
  // Intl's list has no "UTC", the default; offer it first, and the current zone if Intl lacks it
  const zones = ["UTC", ...Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC")];
  return (
    <>
      <SetupChecklist companyId={companyId} program={program} owedCents={owed} />
      <Card size="2">
        <div className="stack">
          <Heading size="4">Time zone</Heading>
          <Text size="2" className="muted">Charts and date filters count days in this zone.</Text>
          <ActionForm action={setTimezoneAction.bind(null, companyId)} label="Time zone">
            <select name="timezone" className="select" aria-label="Time zone" defaultValue={program.timezone}>
              {!zones.includes(program.timezone) && <option>{program.timezone}</option>}
              {zones.map((z) => <option key={z}>{z}</option>)}
            </select>
            <Button size="1" type="submit" variant="soft">Save time zone</Button>
          </ActionForm>
        </div>
      </Card>
      <Card size="3">
        <div className="stack">
          <Heading size="4">Program settings</Heading>
          <SettingsForm companyId={companyId} values={settingsFormValues(program, defaults)} more={[fraudSection(defaults), gamificationSection, notificationsSection]} />
        </div>
      </Card>
      <GamificationPreviewCard preview={preview} baseCents={previewCents} currency={program.currency} />
      <Card size="2">
        <div className="stack" id="trusted-members">
          <Heading size="4">Trusted members</Heading>
          <Text size="2" className="muted">
            A trusted member&apos;s referrals are still checked but never held. Trust or untrust someone from their member page or
            from the <Link href={`/dashboard/${companyId}/fraud`}>Fraud</Link> queue. Listed here: the first 200, by username.
          </Text>
          {trusted.length === 0 ? (
            <Text size="2" className="muted">No trusted members yet.</Text>
          ) : (
            <ul className="trusted-list" aria-label="Trusted members">
              {trusted.map((m) => (
                <li key={m.user_id}>
                  <ActionForm action={setTrustedAction.bind(null, companyId, m.user_id, false)} label={`Untrust ${m.username}`}>
                    <Link href={`/dashboard/${companyId}/members/${encodeURIComponent(m.user_id)}`}>{m.username}</Link>
                    <Button size="1" type="submit" variant="ghost" color="red">Untrust</Button>
                  </ActionForm>
                </li>
              ))}
            </ul>
          )}
        </div>
      </Card>
    </>
  );
}
