import { Badge, Button, Card, Heading, Text } from "@whop/react/components";
import Link from "next/link";
import { notFound } from "next/navigation";
import { ActionForm } from "@/app/_components/action-form";
import { day, statusColor } from "@/app/_components/format";
import { Stat } from "@/app/_components/stat";
import { SimpleTable } from "@/app/_components/table";
import { campaignToForm, companyCatalog, editableFields, getCampaign, lastDayOf } from "@/lib/campaigns";
import { DomainError } from "@/lib/db";
import { basisPointsToPercent } from "@/lib/money";
import { getProgram } from "@/lib/programs";
import { describeReward, type RewardData } from "@/lib/rewards";
import { requireCompanyAdmin } from "@/lib/whop/viewer";
import { campaignStatusAction, editCampaignAction } from "../actions";
import { CampaignFields } from "../campaign-fields";

export const dynamic = "force-dynamic";

/** One campaign: its rules, prizes, live status and standings, and what the creator can do now. */
export default async function CampaignPage({ params }: { params: Promise<{ companyId: string; campaignId: string }> }) {
  const { companyId, campaignId } = await params;
  await requireCompanyAdmin(companyId);
  const [program, c] = await Promise.all([
    getProgram(companyId),
    getCampaign(companyId, campaignId).catch((err) => {
      if (err instanceof DomainError && err.status === 404) notFound();
      throw err;
    }),
  ]);
  const editable = editableFields(c);
  // Whop's plans and products: to edit a draft's terms and to name its eligible products
  const catalog = editable === "all" || c.rules.product_ids?.length ? await companyCatalog(companyId) : null;
  const productName = (id: string) => catalog?.products.find((p) => p.id === id)?.title ?? id;
  const tz = program.timezone;
  const cur = program.currency;
  const lastDay = lastDayOf(c);
  const statusLabel = c.status === "draft" && c.scheduled ? "scheduled" : c.status;
  const act = (action: string, label: string, variant: "solid" | "soft" = "soft") => (
    <ActionForm key={action} action={campaignStatusAction.bind(null, companyId, c.id, action)} label={`${label} campaign`}>
      <Button size="1" type="submit" variant={variant}>{label}</Button>
    </ActionForm>
  );
  const prize = (p: { reward_type: string; reward_data: Record<string, unknown> }) => describeReward(p.reward_type, p.reward_data as RewardData, cur);
  return (
    <>
      <Text size="2"><Link href={`/dashboard/${companyId}/campaigns`}>← All campaigns</Link></Text>
      <Card size="2">
        <div className="stack">
          <Heading size="5">
            {c.name} <Badge color={statusColor[c.status] ?? "gray"} data-testid="campaign-status">{statusLabel}</Badge>
          </Heading>
          {c.description && <Text>{c.description}</Text>}
          <Text size="2" className="muted">
            {day(c.start_date, tz)} – {day(lastDay, tz)} ({tz})
          </Text>
          <section className="grid" aria-label="Campaign figures">
            <Stat label="Referrals" value={c.total_referrals} testId="campaign-total" />
            <Stat label="Bonus rate" value={c.rules.bonus_rate_bp ? `+${basisPointsToPercent(c.rules.bonus_rate_bp)}%` : "—"} testId="campaign-bonus-rate" />
            <Stat label="Bonus points" value={c.rules.bonus_points ? `+${c.rules.bonus_points}` : "—"} testId="campaign-bonus-points" />
          </section>
          <Text size="2">
            Products: {c.rules.product_ids?.length ? c.rules.product_ids.map(productName).join(", ") : "all"}
          </Text>
          <div>
            <Text weight="bold">Prizes</Text>
            <ul data-testid="campaign-prizes">
              {(c.prizes.top ?? []).map((p, i) => <li key={i}>Place {i + 1}: {prize(p)}</li>)}
              {c.prizes.reach && <li>Everyone with {c.prizes.reach.count} referrals: {prize(c.prizes.reach.prize)}</li>}
              {!c.prizes.top?.length && !c.prizes.reach && <li>No prizes</li>}
            </ul>
          </div>
          <div className="row">
            {c.status === "draft" && !c.scheduled && act("schedule", "Schedule", "solid")}
            {c.status === "draft" && c.scheduled && act("unschedule", "Back to draft")}
            {c.status === "active" && act("end", "End now")}
            {(c.status === "draft" || c.status === "ended") && act("archive", "Archive")}
          </div>
        </div>
      </Card>
      <Card size="2">
        <div className="stack">
          <Heading size="4">{c.awarded_at ? "Final standings" : "Standings"}</Heading>
          {c.standings.length === 0 ? (
            <Text className="muted">No referrals counted in this campaign yet.</Text>
          ) : (
            <div data-testid="standings">
              <SimpleTable
                label="Standings"
                columns={["Place", "Member", "Referrals", "Prize"]}
                rows={c.standings.map((s) => ({
                  key: s.user_id,
                  cells: [s.place, <Link key="m" href={`/dashboard/${companyId}/members/${encodeURIComponent(s.user_id)}`}>{s.member}</Link>, s.conversions, s.prize ? prize(s.prize) : "—"],
                }))}
              />
            </div>
          )}
        </div>
      </Card>
      {editable !== "none" && (
        <Card size="2">
          <div className="stack">
            <Heading size="4">Edit</Heading>
            <Text size="2" className="muted">
              {editable === "running"
                ? "It is running: its rules and prizes stay as members were promised; the name, description and end date can change."
                : `Until it starts, everything can change. Dates are in ${tz}.`}
            </Text>
            <ActionForm action={editCampaignAction.bind(null, companyId, c.id)} label="Edit campaign" className="stack">
              <CampaignFields values={campaignToForm(c, tz, cur)} catalog={catalog} currency={cur} running={editable === "running"} />
              <div className="row">
                <Button size="1" type="submit" variant="soft">Save</Button>
              </div>
            </ActionForm>
          </div>
        </Card>
      )}
    </>
  );
}
