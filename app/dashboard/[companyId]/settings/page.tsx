import { Button, Card, Heading, Text } from "@whop/react/components";
import { ActionForm } from "@/app/_components/action-form";
import { getOverview, todayIn } from "@/lib/analytics";
import { getProgram, settingsFormValues } from "@/lib/programs";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { setTimezoneAction } from "../actions";
import { SettingsForm } from "../settings-form";
import { SetupChecklist } from "../setup-checklist";

export const dynamic = "force-dynamic";

/** Settings: the setup checklist, the program's time zone and every program setting. */
export default async function SettingsPage({ params }: { params: Promise<{ companyId: string }> }) {
  const { companyId } = await params;
  await requireCompanyAdmin(companyId);
  const program = await getProgram(companyId);
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
          <SettingsForm companyId={companyId} values={settingsFormValues(program)} />
        </div>
      </Card>
    </>
  );
}
